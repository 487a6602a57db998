"""The prompted teacher's answers: the first line of text of each reply."""

from __future__ import annotations

from collections.abc import Sequence

from p2m_lib.evaluate.baseline import teacher_predictions
from p2m_lib.parse import parse_prompt
from p2m_lib.types import Completion, SamplingParams

DATES = """Rewrite the date in ISO 8601 format.

Input: 3 August 2011
Output: 2011-08-03
"""


class ExplainingTeacher:
    """Answers each prompt with a date, then goes on explaining, as the 1.5B teacher often does."""

    name = "explaining"
    capable = False
    chat = False

    def __init__(self) -> None:
        self.params: list[SamplingParams] = []

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        self.params.append(params)
        return [Completion((f"\n 2001-07-0{i}\nTo rewrite the date, first",)) for i, _ in enumerate(prompts)]


def test_the_teacher_is_asked_for_a_first_line_and_answers_with_it() -> None:
    teacher = ExplainingTeacher()

    answers = teacher_predictions(teacher, parse_prompt(DATES), ["4 July 2001", "5 July 2001"], 16)

    assert answers == ["2001-07-00", "2001-07-01"]
    assert [(params.temperature, params.first_line) for params in teacher.params] == [(0.0, True)]
