"""The judge: the teacher, over the loopback OpenAI-compatible server, checks each generated pair."""

from __future__ import annotations

import json
import re

import pytest
from openai_server import OpenAICompatServer

from p2m_lib.errors import P2MError
from p2m_lib.generate.judge import JUDGED_FILE, judge_examples, judge_prompt, judged_wrong, verdict
from p2m_lib.llm import OpenAITeacher
from p2m_lib.stages import MIN_TRAINING_EXAMPLES, generation_metrics, process_stage, write_json
from p2m_lib.types import Example, TaskSpec

TASK = TaskSpec(
    instruction="Rewrite the date in ISO 8601 format.",
    examples=(Example("March 7, 1994", "1994-03-07"), Example("12/25/1987", "1987-12-25")),
    prompt="Rewrite the date in ISO 8601 format.",
)
# The scripted teacher knows the right answers; it says "no" to anything else.
TRUTH = {"4 July 2001": "2001-07-04", "Dec 3, 1999": "1999-12-03", "2020/01/05": "2020-01-05"}


def _judging_reply(request):
    pair = re.findall(r"Input: (.*)\nOutput: (.*)\nCorrect:", request["messages"][-1]["content"])[-1]
    if pair[0] == "2020/01/05":
        return ["Well, it depends."]
    return ["Yes." if TRUTH.get(pair[0]) == pair[1] else "no"]


def test_the_judge_prompt_shows_right_and_wrong_demonstrations():
    prompt = judge_prompt(TASK, Example("4 July 2001", "2001-07-04"))

    assert prompt == (
        "Rewrite the date in ISO 8601 format.\n"
        'Say "yes" if the output is correct for the input, "no" if it is not.\n\n'
        "Input: March 7, 1994\nOutput: 1994-03-07\nCorrect: yes\n\n"
        "Input: March 7, 1994\nOutput: 1987-12-25\nCorrect: no\n\n"
        "Input: 12/25/1987\nOutput: 1987-12-25\nCorrect: yes\n\n"
        "Input: 12/25/1987\nOutput: 1994-03-07\nCorrect: no\n\n"
        "Input: 4 July 2001\nOutput: 2001-07-04\nCorrect:"
    )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (" yes", "yes"),
        ("Yes.", "yes"),
        ("NO, because", "no"),
        ("**no**", "no"),
        ("maybe", "unclear"),
        ("", "unclear"),
    ],
)
def test_verdicts_are_read_from_the_first_word(reply, expected):
    assert verdict(reply) == expected


def test_pairs_judged_wrong_are_dropped_and_counted(tmp_path):
    examples = [
        Example("4 July 2001", "2001-07-04"),
        Example("Dec 3, 1999", "1999-03-12"),  # wrong
        Example("2020/01/05", "2020-01-05"),  # the judge's reply is unclear: kept
    ]
    with OpenAICompatServer(reply=_judging_reply) as server:
        teacher = OpenAITeacher(server.base_url, "judge-model", "sk-test")
        result = judge_examples(teacher, TASK, examples, tmp_path)
        asked = len(server.requests)

    assert result.kept == (examples[0], examples[2])
    assert result.to_dict() == {
        "judged": 3,
        "kept": 2,
        "dropped": {"judged wrong": 1},
        "unclear": 1,
        "agreement": 33.3,
    }
    assert asked == 3
    assert judged_wrong(tmp_path) == {("Dec 3, 1999", "1999-03-12")}
    rows = [json.loads(line) for line in (tmp_path / JUDGED_FILE).read_text().splitlines()]
    assert [row["verdict"] for row in rows] == ["yes", "no", "unclear"]


def test_a_rerun_judges_only_what_is_not_on_disk(tmp_path):
    first = [Example("4 July 2001", "2001-07-04")]
    more = first + [Example("Dec 3, 1999", "1999-12-03")]
    with OpenAICompatServer(reply=_judging_reply) as server:
        teacher = OpenAITeacher(server.base_url, "judge-model", "sk-test")
        judge_examples(teacher, TASK, first, tmp_path)
        # A kill cut the next line short: it is dropped, not glued to the next verdict.
        with (tmp_path / JUDGED_FILE).open("a") as handle:
            handle.write('{"input": "Dec 3')
        result = judge_examples(teacher, TASK, more, tmp_path)
        asked = len(server.requests)

    assert asked == 2
    assert result.kept == tuple(more)
    assert len((tmp_path / JUDGED_FILE).read_text().splitlines()) == 2


def test_the_generate_metrics_carry_the_judge(tmp_path):
    stats = {
        "generated": 40,
        "usage": {"requests": 90},
        "rejected": {"duplicate input": 3, "empty output": 2},
        "sample_agreement": 91.7,
        "judge": {"judged": 40, "kept": 36, "dropped": {"judged wrong": 4}, "unclear": 0, "agreement": 90.0},
    }

    assert generation_metrics(stats) == {
        "generated": 40,
        "requests": 90,
        "rejected": 5,
        "sample_agreement": 91.7,
        "judge_kept": 36,
        "judge_dropped": 4,
    }


def test_a_set_the_judge_left_too_small_says_why_and_what_to_change(tmp_path):
    generated = tmp_path / "generated"
    generated.mkdir()
    rows = [{"input": f"day {i}", "output": f"2001-01-{i:02d}"} for i in range(1, 11)]
    (generated / "examples.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (generated / JUDGED_FILE).write_text(
        "".join(json.dumps(row | {"verdict": "no" if i < 5 else "yes"}) + "\n" for i, row in enumerate(rows))
    )
    write_json(generated / "stats.json", {"rejected": {"duplicate input": 2}, "usage": {"requests": 30}})
    write_json(tmp_path / "task.json", TASK.to_dict())

    with pytest.raises(P2MError) as error:
        process_stage(tmp_path / "task.json", generated, tmp_path / "data", None, None, None, 0)

    assert MIN_TRAINING_EXAMPLES == 8
    assert str(error.value) == (
        "only 5 examples to train on (5 generated, 0 labelled; the filters rejected 2 duplicate input, "
        "5 more judged wrong by the teacher); at least 8 are needed. Ask for more with --num-examples, "
        "use a stronger --teacher, turn the judge off or add labelled data with --dataset"
    )
