"""A scripted teacher: replies read from a list, requests recorded for the test to inspect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from p2m_lib.types import Completion, SamplingParams


@dataclass
class ScriptedTeacher:
    """Answers each request with the next scripted reply; an Exception reply is raised instead."""

    replies: list[str | Exception]
    capable: bool = True
    name: str = "scripted"
    requests: list[tuple[str, SamplingParams]] = field(default_factory=list)

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        completions = []
        for prompt in prompts:
            self.requests.append((prompt, params))
            reply = self.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            completions.append(Completion(texts=(reply,)))
        return completions


@pytest.fixture
def scripted_teacher() -> Callable[..., ScriptedTeacher]:
    """Build a ScriptedTeacher: `scripted_teacher(["reply 1", ...], capable=True)`."""
    return ScriptedTeacher
