"""The baseline every user asks about: the teacher itself, prompted with the user's own prompt.

Each test input is put into the prompt's own layout (`PromptLayout`): after arrow demonstrations
the teacher reads `Review: "…" ->`, after labelled ones `Input: …\nOutput:`, exactly what the user
would write to ask it. Appending another layout after the user's prompt made the teacher look far
worse than it is (2.5% on a sentiment set whose prompt used arrows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from p2m_lib.generate.prompts import CHAT_PREAMBLE, OUTPUT_STOP, extract_output
from p2m_lib.llm.base import batch_size_for, is_chat
from p2m_lib.progress import progress_bar
from p2m_lib.types import INPUT_SLOT, SamplingParams, TaskSpec

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher


def baseline_prompt(task: TaskSpec, text: str, chat: bool = False) -> str:
    """The user's prompt, unchanged, then the bare input `text` presented in the prompt's layout."""
    layout = task.layout
    return (CHAT_PREAMBLE if chat else "") + task.prompt.rstrip() + layout.separator + layout.present(text)


def baseline_stops(task: TaskSpec) -> tuple[str, ...]:
    """Where the teacher's answer ends: a new block, or the start of the next query in the layout.

    In a layout of one demonstration a line ("x -> y"), the line's end ends the answer too.
    """
    layout = task.layout
    head = (layout.query.split(INPUT_SLOT)[0] + layout.input_prefix).strip()
    extra = [f"\n{head}"] if head else []
    if layout.separator.strip(" \t") == "\n":
        extra.append("\n")
    return OUTPUT_STOP + tuple(stop for stop in extra if stop not in OUTPUT_STOP)


def teacher_predictions(
    teacher: Teacher, task: TaskSpec, inputs: Sequence[str], max_tokens: int, batch_size: int | None = None
) -> list[str]:
    """Greedy answers of the teacher to each input, in order.

    Args:
        batch_size: Inputs sent together; default: as many as the teacher runs best at once
            (a local teacher's `wave_sequences`), else 8.
    """
    batch_size = batch_size or batch_size_for(teacher)
    params = SamplingParams(
        n=1, temperature=0.0, max_tokens=max_tokens, stop=baseline_stops(task), first_line=True
    )
    chat = is_chat(teacher)
    answers: list[str] = []
    with progress_bar("teacher baseline", total=len(inputs)) as bar:
        for start in range(0, len(inputs), batch_size):
            batch = [baseline_prompt(task, text, chat) for text in inputs[start : start + batch_size]]
            for completion in teacher.complete(batch, params):
                answers.append(extract_output(completion.texts[0]) if completion.texts else "")
            bar.update(0, advance=len(batch))
    return answers
