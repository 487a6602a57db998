"""parse_with_llm: lenient JSON reading, strict checks against the prompt, retries, translation."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.parse import parse_with_llm
from p2m_lib.types import Example

PROMPT = "Translate English to French.\n\nInput: cat\nOutput: chat\n\nInput: the  dog\nOutput: le chien"
SPLIT = {
    "instruction": "Translate English to French.",
    "examples": [{"input": "cat", "output": "chat"}, {"input": "the dog", "output": "le chien"}],
}
# Demonstrations keep the prompt's own spacing, whatever spacing the reply used.
EXAMPLES = (Example("cat", "chat"), Example("the  dog", "le chien"))


def test_fenced_json_with_chatter_is_accepted(scripted_teacher: Callable) -> None:
    teacher = scripted_teacher([f"Sure! Here it is:\n```json\n{json.dumps(SPLIT, indent=2)}\n```\nDone."])

    spec = parse_with_llm(PROMPT, teacher)

    assert spec.instruction == "Translate English to French."
    assert spec.examples == EXAMPLES
    assert spec.prompt == PROMPT
    assert spec.retrieval_instruction == ""
    [(request, params)] = teacher.requests
    assert PROMPT in request
    assert (params.n, params.temperature, params.instruction) == (1, 0.0, True)


def test_a_demonstration_copied_with_tidied_spacing_keeps_the_prompts_text(
    scripted_teacher: Callable,
) -> None:
    prompt = (
        "Classify the review.\n\nInput: a gem of a movie .\nOutput: positive\n\n"
        "Input: it 's dull\nOutput: negative"
    )
    tidied = {
        "instruction": "Classify the review.",
        "examples": [
            {"input": "a gem of a movie.", "output": "positive"},
            {"input": "it's dull", "output": "negative"},
        ],
    }

    spec = parse_with_llm(prompt, scripted_teacher([json.dumps(tidied)]))

    assert spec.examples == (Example("a gem of a movie .", "positive"), Example("it 's dull", "negative"))


def test_invented_example_is_rejected_and_asked_again(scripted_teacher: Callable) -> None:
    invented = {**SPLIT, "examples": [*SPLIT["examples"], {"input": "bird", "output": "oiseau"}]}
    teacher = scripted_teacher([json.dumps(invented), json.dumps(SPLIT)])

    spec = parse_with_llm(PROMPT, teacher)

    assert spec.examples == EXAMPLES
    [(first, first_params), (retry, retry_params)] = teacher.requests
    assert 'example 3 input "bird" does not occur in the prompt' in retry
    assert "could not be used" not in first
    assert retry_params.temperature > first_params.temperature == 0.0


def test_malformed_json_then_valid(scripted_teacher: Callable) -> None:
    teacher = scripted_teacher(['{"instruction": "Translate", "examples": [', json.dumps(SPLIT)])

    assert parse_with_llm(PROMPT, teacher).examples == EXAMPLES
    assert "the reply holds no JSON object" in teacher.requests[1][0]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("I cannot help with that.", "the reply holds no JSON object"),
        ('{"instruction": "  ", "examples": []}', '"instruction" must be a non-empty string'),
        (
            '{"instruction": "T", "examples": "cat -> chat"}',
            '"examples" must be a list of {"input": ..., "output": ...} objects',
        ),
        (
            '{"instruction": "T", "examples": ["cat"]}',
            'example 1 must be an object {"input": ..., "output": ...}',
        ),
        (
            '{"instruction": "T", "examples": [{"input": "cat", "output": 3}]}',
            'example 1 needs a non-empty string "output"',
        ),
        (
            '{"instruction": "T", "examples": [{"input": "cat", "output": "un chat"}]}',
            'example 1 output "un chat" does not occur in the prompt; '
            "copy demonstrations exactly, never invent them",
        ),
    ],
    ids=["no-json", "empty-instruction", "not-a-list", "not-an-object", "not-a-string", "invented"],
)
def test_all_attempts_failing_is_an_error_naming_the_last_problem(
    scripted_teacher: Callable, reply: str, problem: str
) -> None:
    teacher = scripted_teacher([reply] * 3)

    with pytest.raises(P2MError) as raised:
        parse_with_llm(PROMPT, teacher, max_attempts=3)

    assert str(raised.value) == (
        f"the LLM parser (scripted) got no usable reply in 3 attempts; last problem: {problem}"
    )
    assert [params.temperature for _, params in teacher.requests] == [0.0, 0.3, 0.5]


def test_zero_shot_reply_has_no_examples(scripted_teacher: Callable) -> None:
    teacher = scripted_teacher(['{"instruction": "Write a haiku about the sea."}'])

    spec = parse_with_llm("Write a haiku about the sea.", teacher)

    assert (spec.instruction, spec.examples) == ("Write a haiku about the sea.", ())


GERMAN_PROMPT = "Übersetze ins Englische.\nEingabe: Hallo Welt\nAusgabe: Hello world"
GERMAN_SPLIT = {
    "instruction": "Übersetze ins Englische.",
    "examples": [{"input": "Hallo Welt", "output": "Hello world"}],
}


def test_non_english_instruction_is_translated_for_retrieval(scripted_teacher: Callable) -> None:
    translation = '```\n"Translate into English."\n```\n\nNote: a literal translation.'
    teacher = scripted_teacher([json.dumps(GERMAN_SPLIT), translation])

    spec = parse_with_llm(GERMAN_PROMPT, teacher)

    assert spec.instruction == "Übersetze ins Englische."
    assert spec.retrieval_instruction == "Translate into English."
    assert spec.examples == (Example("Hallo Welt", "Hello world"),)
    assert "Übersetze ins Englische." in teacher.requests[1][0]


def test_failed_translation_keeps_the_split(
    scripted_teacher: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = scripted_teacher([json.dumps(GERMAN_SPLIT), P2MError("teacher unreachable")])

    spec = parse_with_llm(GERMAN_PROMPT, teacher)

    assert (spec.instruction, spec.retrieval_instruction) == ("Übersetze ins Englische.", "")
    assert "could not translate the instruction (teacher unreachable)" in caplog.text


def test_chinese_instruction_is_translated(scripted_teacher: Callable) -> None:
    split = {"instruction": "将中文翻译成英文。", "examples": [{"input": "你好", "output": "Hello"}]}
    translation = "English: Translate Chinese into English."
    teacher = scripted_teacher([json.dumps(split, ensure_ascii=False), translation])

    spec = parse_with_llm("将中文翻译成英文。\n输入：你好\n输出：Hello", teacher)

    assert spec.retrieval_instruction == "Translate Chinese into English."
