"""parse_prompt: the rules for known labels, the LLM parser with a capable teacher for the rest."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.parse import parse_prompt
from p2m_lib.types import Example

# Labels the rules do not know: the capable teacher is asked to split it.
PROMPT = "Give the antonym.\nWord: hot\nOpposite: cold\nWord: up\nOpposite: down"
RULES_EXAMPLES = (Example("hot", "cold"), Example("up", "down"))
KNOWN_LABELS_PROMPT = "Give the antonym.\nInput: hot\nOutput: cold\nInput: up\nOutput: down"


def test_without_teacher_the_rules_parse() -> None:
    spec = parse_prompt(PROMPT)

    assert (spec.instruction, spec.examples) == ("Give the antonym.", RULES_EXAMPLES)


def test_teacher_that_is_not_capable_is_not_asked(scripted_teacher: Callable) -> None:
    teacher = scripted_teacher([], capable=False)

    spec = parse_prompt(PROMPT, teacher)

    assert spec.examples == RULES_EXAMPLES
    assert teacher.requests == []


def test_known_labels_are_split_by_the_rules_without_asking_the_teacher(scripted_teacher: Callable) -> None:
    teacher = scripted_teacher([])

    spec = parse_prompt(KNOWN_LABELS_PROMPT, teacher)

    assert (spec.instruction, spec.examples) == ("Give the antonym.", RULES_EXAMPLES)
    assert spec.retrieval_instruction == ""
    assert teacher.requests == []


def test_a_non_english_instruction_with_known_labels_is_translated_for_retrieval(
    scripted_teacher: Callable,
) -> None:
    teacher = scripted_teacher(["Determine the sentiment of the tweet: positive or negative."])
    prompt = "Bestimme die Stimmung des Tweets: positiv oder negativ.\n\nInput: Toll!\nOutput: positiv\n"

    spec = parse_prompt(prompt, teacher)

    assert spec.instruction == "Bestimme die Stimmung des Tweets: positiv oder negativ."
    assert spec.examples == (Example("Toll!", "positiv"),)
    assert spec.retrieval_instruction == "Determine the sentiment of the tweet: positive or negative."
    assert len(teacher.requests) == 1 and teacher.requests[0][0].startswith("Translate this task instruction")


def test_capable_teacher_parses(scripted_teacher: Callable) -> None:
    split = {"instruction": "Give the opposite word.", "examples": [{"input": "hot", "output": "cold"}]}
    teacher = scripted_teacher([json.dumps(split)])

    spec = parse_prompt(PROMPT, teacher)

    assert (spec.instruction, spec.examples) == ("Give the opposite word.", (Example("hot", "cold"),))


def test_failing_llm_parser_falls_back_to_the_rules_with_a_warning(
    scripted_teacher: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = scripted_teacher(["no JSON here"] * 3)

    with caplog.at_level(logging.WARNING, logger="p2m_lib.parse"):
        spec = parse_prompt(PROMPT, teacher)

    assert (spec.instruction, spec.examples) == ("Give the antonym.", RULES_EXAMPLES)
    assert len(teacher.requests) == 3
    assert (
        "LLM prompt parsing failed (the LLM parser (scripted) got no usable reply in 3 attempts; "
        "last problem: the reply holds no JSON object); using the deterministic parser"
    ) in caplog.text


def test_unreachable_teacher_falls_back_to_the_rules(scripted_teacher: Callable) -> None:
    teacher = scripted_teacher([P2MError("cannot reach the teacher at http://llm:8000")])

    assert parse_prompt(PROMPT, teacher).examples == RULES_EXAMPLES


def test_prompt_without_instruction_is_an_error_after_fallback(scripted_teacher: Callable) -> None:
    teacher = scripted_teacher(["{}"] * 3)

    with pytest.raises(P2MError, match="^the prompt has 1 demonstration but no instruction"):
        parse_prompt("Input: hot\nOutput: cold", teacher)
