"""What every teacher LLM offers: n sampled completions per prompt, cut at stop strings."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from p2m_lib.types import Completion, SamplingParams


@runtime_checkable
class Teacher(Protocol):
    """A teacher LLM.

    Attributes:
        name: The model's name, for reports.
        capable: True for an instruction-following LLM (a remote one, or an embedded one that
            was measured to follow instructions), False for a small one; stages ask only a
            capable teacher for JSON parsing or reranking.
    """

    name: str
    capable: bool

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        """Sample `params.n` completions for each prompt.

        Returns:
            One Completion per prompt, in prompt order, each with `params.n` texts (fewer only
            when a server returned fewer), every text cut before the first of `params.stop`.
        """
        ...


def is_chat(teacher: Teacher) -> bool:
    """Whether `teacher` answers prompts as chat messages, so that a pattern to continue needs a line
    asking for the continuation: a teacher that says so (`chat`), else a capable (remote) one."""
    return bool(getattr(teacher, "chat", teacher.capable))


def reranks(teacher: Teacher) -> bool:
    """Whether `teacher` is worth asking to reorder retrieved datasets: a teacher that says so
    (`reranks`), else a capable one. The embedded Qwen2.5-Coder-1.5B answers "none" or the given
    order whatever the candidates (docs/BENCHMARKS.md, Retrieval), so it is not asked."""
    return bool(getattr(teacher, "reranks", teacher.capable))


DEFAULT_BATCH = 8


def batch_size_for(teacher: Teacher) -> int:
    """Prompts to send together for one answer each: as many sequences as a local teacher runs
    best at once (`wave_sequences`), else 8."""
    return getattr(teacher, "wave_sequences", DEFAULT_BATCH)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Return `text` up to (not including) the earliest occurrence of any stop string."""
    positions = [index for index in (text.find(s) for s in stop if s) if index >= 0]
    return text[: min(positions)] if positions else text


# A reply may repeat the label its prompt ended with ("Output: 17" after "Output:").
_LEADING_LABEL = re.compile(r"^\s*(?:input|output)\s*:\s*", re.IGNORECASE)


def first_text_line(reply: str) -> tuple[str, bool]:
    """The first line of `reply` with text, a repeated "Input:" or "Output:" label dropped, and
    whether that line has ended: once a line break follows it, nothing the reply goes on to say
    changes it. ("", False) while no line holds text.
    """
    for line in reply.splitlines(keepends=True):
        text = _LEADING_LABEL.sub("", line, count=1).strip()
        if text:
            return text, line.splitlines()[0] != line
    return "", False


def repeats_a_unit(
    items: Sequence[object], longest_unit: int, copies: int, length: int, at_end: bool = False
) -> bool:
    """Whether `items` (words, tokens) hold one unit of at most `longest_unit` items back to back,
    at least `copies` times and `length` items in all: what a model stuck in a loop writes. With
    `at_end`, only a run that ends `items` counts.
    """
    items = list(items)
    for size in range(1, longest_unit + 1):
        span = size * max(copies, -(-length // size))
        starts = [len(items) - span] if at_end else range(len(items) - span + 1)
        for start in starts:
            unit = items[start : start + size]
            if start >= 0 and all(
                items[start + k * size : start + (k + 1) * size] == unit for k in range(1, span // size)
            ):
                return True
    return False


def first_json_object(reply: str) -> dict[str, Any] | None:
    """The first JSON object in an LLM's reply, or None.

    Fences and text around the object need no special case: decoding is tried from every "{".
    """
    decoder = json.JSONDecoder()
    for start in (index for index, char in enumerate(reply) if char == "{"):
        try:
            value, _ = decoder.raw_decode(reply, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None
