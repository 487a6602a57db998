"""The baseline every user asks about: the teacher itself, prompted with the user's own prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from p2m_lib.generate.prompts import CHAT_PREAMBLE, OUTPUT_STOP, extract_output
from p2m_lib.progress import progress_bar
from p2m_lib.types import SamplingParams

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher


def baseline_prompt(user_prompt: str, text: str, chat: bool = False) -> str:
    """The user's prompt, unchanged, followed by the test input to answer."""
    return (CHAT_PREAMBLE if chat else "") + f"{user_prompt.rstrip()}\n\nInput: {text}\nOutput:"


def teacher_predictions(
    teacher: Teacher, user_prompt: str, inputs: Sequence[str], max_tokens: int, batch_size: int = 8
) -> list[str]:
    """Greedy answers of the teacher to each input, in order."""
    params = SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens, stop=OUTPUT_STOP)
    answers: list[str] = []
    with progress_bar("teacher baseline", total=len(inputs)) as bar:
        for start in range(0, len(inputs), batch_size):
            batch = [
                baseline_prompt(user_prompt, text, teacher.capable)
                for text in inputs[start : start + batch_size]
            ]
            for completion in teacher.complete(batch, params):
                answers.append(extract_output(completion.texts[0]) if completion.texts else "")
            bar.update(0, advance=len(batch))
    return answers
