"""The generation loop's bookkeeping, driven by a scripted teacher (a unit test of logic).

The real teachers are tested against a loopback OpenAI-compatible server and the embedded
model in tests/llm; here only what the loop does with replies matters.
"""

import json
import re
from dataclasses import replace

import pytest

from p2m_lib.config import GenerationConfig
from p2m_lib.generate import EXAMPLES_FILE, RAW_FILE, DatasetGenerator
from p2m_lib.generate.generator import ZERO_SHOT_DEMONSTRATIONS
from p2m_lib.stages import generate_stage
from p2m_lib.types import Completion, Example, TaskSpec

TASK = TaskSpec("Double the number.", (Example("2", "4"),), prompt="Double the number.\nInput: 2\nOutput: 4")
CONFIG = GenerationConfig(num_examples=5, samples_per_input=3, batch_size=2, max_requests=50)


class ScriptedTeacher:
    """Answers input prompts with fresh numbers and output prompts with their double."""

    name = "scripted"
    capable = False

    def __init__(self, fail_after: int | None = None, inputs=None):
        self.calls = []
        self.fail_after = fail_after
        self.inputs = iter(inputs if inputs is not None else (str(n) for n in range(10, 10_000)))

    def complete(self, prompts, params):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append((list(prompts), params))
        replies = []
        for prompt in prompts:
            if prompt.endswith("Input:"):
                texts = tuple(f" {next(self.inputs)}\nOutput: x" for _ in range(params.n))
                replies.append(Completion(texts, 10, 3 * params.n))
            else:
                number = int(prompt.rsplit("Input: ", 1)[1].split("\n")[0])
                replies.append(Completion(self.samples(number, params.n), 10, 2 * params.n))
        return replies

    def samples(self, number, n):
        """The output samples for `number`: its double, every one."""
        return (f" {2 * number}",) * n


class OneWrongTeacher(ScriptedTeacher):
    """Doubles the number, but the last sample of every request is wrong."""

    def samples(self, number, n):
        return (f" {2 * number}",) * (n - 1) + (" wrong",)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generates_the_majority_output_for_each_new_input(tmp_path):
    teacher = OneWrongTeacher()
    result = DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    assert result.examples == tuple(Example(str(n), str(2 * n)) for n in range(10, 15))
    assert read_jsonl(tmp_path / EXAMPLES_FILE) == [e.to_dict() for e in result.examples]
    # 3 rounds: 2 inputs, then 2 outputs asked twice each (their first 2 samples disagree), 2 + 2 + 2,
    # 2 + 1 + 1 (only one more example was needed).
    assert result.usage.requests == 16
    raw = read_jsonl(tmp_path / RAW_FILE)
    assert len(raw) == 16
    # The vote is over 3 samples: the first request's 2, then the first of the second request's 2.
    ten = [row for row in raw if row.get("input") == "10"]
    assert [(row["samples"], row.get("asked_again"), row.get("output")) for row in ten] == [
        (["20", "wrong"], True, None),
        (["20", "wrong", "20"], None, "20"),
    ]
    output_params = [params for prompts, params in teacher.calls if not prompts[0].endswith("Input:")]
    assert {(p.n, p.temperature) for p in output_params} == {(2, 0.5)}


def test_an_input_whose_first_samples_agree_is_labelled_without_the_rest(tmp_path):
    teacher = ScriptedTeacher()
    result = DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    assert result.examples == tuple(Example(str(n), str(2 * n)) for n in range(10, 15))
    # 3 rounds: 2 inputs + 2 outputs, 2 + 2, 2 + 1: 2 of the 3 samples decide the vote.
    assert result.usage.requests == 11
    raw = read_jsonl(tmp_path / RAW_FILE)
    voted = [(row["samples"], row["agreement"]) for row in raw if "input" in row]
    assert voted == [([str(2 * n)] * 2, 1.0) for n in range(10, 15)]


def test_inputs_are_asked_after_generated_examples_but_labelled_after_the_users_alone(tmp_path):
    teacher = ScriptedTeacher()
    DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    input_prompts = [p for prompts, _ in teacher.calls for p in prompts if p.endswith("Input:")]
    output_prompts = [p for prompts, _ in teacher.calls for p in prompts if not p.endswith("Input:")]
    # The last round's input prompts show generated examples (10 -> 20, ...) beside the user's.
    assert "Input: 10\nOutput: 20" in input_prompts[-1]
    assert output_prompts[-1] == "Double the number.\n\nInput: 2\nOutput: 4\n\nInput: 14\nOutput:"
    assert all(p.count("Input:") == 2 for p in output_prompts)


def test_a_task_without_demonstrations_is_labelled_after_generated_examples(tmp_path):
    teacher = ScriptedTeacher()
    zero_shot = TaskSpec("Double the number.", (), prompt="Double the number.")
    DatasetGenerator(teacher, CONFIG).generate(zero_shot, tmp_path)
    output_prompts = [p for prompts, _ in teacher.calls for p in prompts if not p.endswith("Input:")]
    assert output_prompts[0] == "Double the number.\n\nInput: 10\nOutput:"
    shown = re.findall(r"Input: (\d+)\nOutput: (\d+)\n", output_prompts[-1])
    assert len(shown) == CONFIG.demonstrations_per_request
    assert all(int(output) == 2 * int(number) for number, output in shown)


def test_without_generated_demonstrations_every_request_for_inputs_is_the_same_prompt(tmp_path):
    teacher = ScriptedTeacher()
    task = replace(TASK, examples=(Example("2", "4"), Example("5", "10")))
    DatasetGenerator(teacher, replace(CONFIG, demonstrations_per_request=0)).generate(task, tmp_path)
    input_prompts = {p for prompts, _ in teacher.calls for p in prompts if p.endswith("Input:")}
    assert input_prompts == {"Double the number.\n\nInput: 2\nOutput: 4\n\nInput: 5\nOutput: 10\n\nInput:"}


def test_a_task_without_demonstrations_is_shown_generated_ones_even_when_none_are_asked_for(tmp_path):
    teacher = ScriptedTeacher()
    zero_shot = TaskSpec("Double the number.", (), prompt="Double the number.")
    config = replace(CONFIG, num_examples=8, demonstrations_per_request=0)
    DatasetGenerator(teacher, config).generate(zero_shot, tmp_path)
    last_prompts = [p for prompts, _ in teacher.calls[-2:] for p in prompts]
    shown = {len(re.findall(r"Input: \d+\nOutput: \d+\n", p)) for p in last_prompts}
    assert shown == {ZERO_SHOT_DEMONSTRATIONS}


def test_several_inputs_come_from_one_request_for_inputs(tmp_path):
    teacher = ScriptedTeacher()
    config = replace(CONFIG, inputs_per_request=3)
    result = DatasetGenerator(teacher, config).generate(TASK, tmp_path)

    # One wave of 2 input requests brings 6 inputs; 5 of them are labelled, 2 a wave.
    assert [(len(prompts), params.n) for prompts, params in teacher.calls] == [(2, 3), (2, 2), (2, 2), (1, 2)]
    assert result.examples == tuple(Example(str(n), str(2 * n)) for n in range(10, 15))
    raw = read_jsonl(tmp_path / RAW_FILE)
    accepted_inputs = [row["accepted"] for row in raw if row["step"] == "input"]
    assert accepted_inputs == [["10", "11", "12"], ["13", "14", "15"]]
    assert result.usage.requests == 7

    # The sixth input waits on disk: a run asked for one more example labels it, asks for no input.
    resumed = ScriptedTeacher()
    more = DatasetGenerator(resumed, replace(config, num_examples=6)).generate(TASK, tmp_path)
    labelling_prompt = "Double the number.\n\nInput: 2\nOutput: 4\n\nInput: 15\nOutput:"
    assert [prompts for prompts, _ in resumed.calls] == [[labelling_prompt]]
    assert more.examples[-1] == Example("15", "30")


def test_input_temperature_is_annealed_across_rounds_and_labels_sampled_at_their_own(tmp_path):
    teacher = ScriptedTeacher()
    config = replace(CONFIG, initial_temperature=1.0, max_temperature=1.5, label_temperature=0.3)
    DatasetGenerator(teacher, config).generate(TASK, tmp_path)
    input_temperatures = [
        params.temperature for prompts, params in teacher.calls if prompts[0].endswith("Input:")
    ]
    label_temperatures = {
        params.temperature for prompts, params in teacher.calls if not prompts[0].endswith("Input:")
    }
    assert input_temperatures == pytest.approx([1.0, 1.0 + 0.5 * 2 / 5, 1.0 + 0.5 * 4 / 5])
    assert label_temperatures == {0.3}


def test_labels_are_asked_for_their_first_line_and_inputs_in_full(tmp_path):
    # An output is the reply's first line of text, so a teacher may stop there; an input may span lines.
    teacher = ScriptedTeacher()
    DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    asked = {(prompts[0].endswith("Input:"), params.first_line) for prompts, params in teacher.calls}
    assert asked == {(True, False), (False, True)}


def test_duplicate_and_copied_inputs_are_rejected_and_counted(tmp_path):
    teacher = ScriptedTeacher(inputs=["2", "7", "7", "", "8", "9", "10", "11"])
    result = DatasetGenerator(teacher, replace(CONFIG, num_examples=4)).generate(TASK, tmp_path)
    assert [e.input for e in result.examples] == ["7", "8", "9", "10"]
    assert result.rejected == {"copy of a demonstration": 1, "duplicate input": 1, "empty input": 1}


def test_request_bound_stops_a_teacher_that_never_gives_usable_replies(tmp_path):
    class UselessTeacher(ScriptedTeacher):
        def complete(self, prompts, params):
            self.calls.append((list(prompts), params))
            return [Completion(("",), 5, 0) for _ in prompts]

    teacher = UselessTeacher()
    result = DatasetGenerator(teacher, replace(CONFIG, max_requests=7)).generate(TASK, tmp_path)
    assert result.examples == ()
    assert result.usage.requests == 7
    assert result.rejected == {"empty input": 7}


def test_interrupted_run_resumes_without_repeating_paid_requests(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        # Interrupted after round 0's input and output calls and round 1's input call.
        DatasetGenerator(ScriptedTeacher(fail_after=3), CONFIG).generate(TASK, tmp_path)
    assert [e.input for e in map(lambda r: Example(**r), read_jsonl(tmp_path / EXAMPLES_FILE))] == [
        "10",
        "11",
    ]

    teacher = ScriptedTeacher(inputs=(str(n) for n in range(100, 200)))
    result = DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    # Round 1's inputs (12, 13) were paid for before the interruption: the rerun asks only
    # for their outputs, then continues with new inputs.
    first_prompts, first_params = teacher.calls[0]
    assert [p.rsplit("Input: ", 1)[1].split("\n")[0] for p in first_prompts] == ["12", "13"]
    assert first_params.n == 2
    assert [e.input for e in result.examples] == ["10", "11", "12", "13", "100"]
    assert result.resumed_examples == 2
    assert result.usage.requests == 11


class SilentTeacher(ScriptedTeacher):
    """Writes inputs, but sends no sample back for any output request."""

    def samples(self, number, n):
        return ()


def test_an_input_is_asked_again_once_at_most(tmp_path):
    result = DatasetGenerator(SilentTeacher(), replace(CONFIG, max_requests=12)).generate(TASK, tmp_path)
    assert result.examples == ()
    raw = read_jsonl(tmp_path / RAW_FILE)
    outcomes = [(row["input"], row.get("asked_again"), row.get("rejected")) for row in raw if "input" in row]
    # Each input: asked, asked again, then dropped for want of any sample.
    assert outcomes == [
        ("10", True, None),
        ("11", True, None),
        ("10", None, ["empty output"]),
        ("11", None, ["empty output"]),
        ("12", True, None),
        ("13", True, None),
        ("12", None, ["empty output"]),
        ("13", None, ["empty output"]),
    ]


def test_an_interrupted_run_keeps_the_first_samples_of_inputs_it_was_asking_again(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        # Interrupted after round 0's inputs and their first, disagreeing samples.
        DatasetGenerator(OneWrongTeacher(fail_after=2), CONFIG).generate(TASK, tmp_path)

    teacher = ScriptedTeacher(inputs=(str(n) for n in range(100, 200)))
    result = DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    first_prompts, first_params = teacher.calls[0]
    assert [p.rsplit("Input: ", 1)[1].split("\n")[0] for p in first_prompts] == ["10", "11"]
    assert first_params.n == 2
    raw = read_jsonl(tmp_path / RAW_FILE)
    voted = [(row["input"], row["samples"], row["agreement"]) for row in raw if "agreement" in row][:2]
    assert voted == [("10", ["20", "wrong", "20"], 0.6667), ("11", ["22", "wrong", "22"], 0.6667)]
    assert [e.input for e in result.examples] == ["10", "11", "100", "101", "102"]


def test_complete_folder_makes_no_request(tmp_path):
    DatasetGenerator(ScriptedTeacher(), CONFIG).generate(TASK, tmp_path)
    teacher = ScriptedTeacher()
    result = DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    assert teacher.calls == []
    assert len(result.examples) == 5
    assert result.resumed_examples == 5


def test_a_second_interruption_during_the_resumed_round_resumes_right(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        DatasetGenerator(ScriptedTeacher(fail_after=3), CONFIG).generate(TASK, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        # Answers round 1's outputs, then is interrupted on round 2's inputs.
        DatasetGenerator(ScriptedTeacher(fail_after=1, inputs=iter(())), CONFIG).generate(TASK, tmp_path)
    teacher = ScriptedTeacher(inputs=(str(n) for n in range(100, 200)))
    result = DatasetGenerator(teacher, CONFIG).generate(TASK, tmp_path)
    assert [e.input for e in result.examples] == ["10", "11", "12", "13", "100"]
    assert teacher.calls[0][0][0].endswith("Input:")


def test_replies_get_room_for_demonstrations_longer_than_the_configured_limit(tmp_path):
    long_question = "Context: " + "word " * 80 + "Question: which word?"
    task = TaskSpec("Answer.", (Example(long_question, "word"),), prompt="Answer.")
    teacher = ScriptedTeacher()

    DatasetGenerator(teacher, replace(CONFIG, num_examples=1)).generate(task, tmp_path)

    budgets = {prompts[0].endswith("Input:"): params.max_tokens for prompts, params in teacher.calls}
    # 3 x 430 characters at 4 characters a token for inputs; at least 16 for short outputs.
    assert budgets == {True: 323, False: 16}


PARITY = TaskSpec(
    "Is the number even or odd?",
    (Example("2", "even"), Example("3", "odd")),
    prompt="Is the number even or odd?\nInput: 2\nOutput: even\nInput: 3\nOutput: odd",
)


class ParityTeacher(ScriptedTeacher):
    """Writes the numbers from 10 up and labels each one's parity right."""

    def samples(self, number, n):
        return (" odd" if number % 2 else " even",) * n


def test_the_generate_step_counts_the_examples_of_each_label_of_a_classification_task(tmp_path):
    config = GenerationConfig(num_examples=40, samples_per_input=3, batch_size=8, max_requests=200)
    task_path = tmp_path / "task.json"
    task_path.write_text(json.dumps(PARITY.to_dict()))

    stats = generate_stage(task_path, tmp_path / "generated", ParityTeacher(), config, seed=0)

    outputs = [row["output"] for row in read_jsonl(tmp_path / "generated" / EXAMPLES_FILE)]
    assert stats["labels"] == {"even": outputs.count("even"), "odd": outputs.count("odd")}
    assert stats["labels"] == {"even": 20, "odd": 20}


class ListingParityTeacher(ScriptedTeacher):
    """Labels the numbers below 40 right; from 40 on, two of three samples of every fifth number
    list both labels, and every seventh number gets only lists."""

    def samples(self, number, n):
        parity = " odd" if number % 2 else " even"
        if number >= 40 and number % 7 == 0:
            return (" even, odd",) * n
        if number >= 40 and number % 5 == 0:
            return (" even, odd", " even, odd", parity)
        return (parity,) * n


def test_a_classification_task_keeps_only_its_labels_once_the_set_shows(tmp_path):
    config = GenerationConfig(num_examples=60, samples_per_input=3, batch_size=8, max_requests=400)

    result = DatasetGenerator(ListingParityTeacher(), config).generate(PARITY, tmp_path)

    # From 20 examples on the labels are known (10 to 39, all right): a list is no label, so a
    # fifth number keeps its one right sample and a seventh is dropped, with the reason counted.
    outputs = {int(e.input): e.output for e in result.examples}
    assert len(outputs) == 60 and max(outputs) > 72
    assert all(output == ("odd" if n % 2 else "even") for n, output in outputs.items())
    assert [n for n in (42, 49, 56, 63, 70) if n in outputs] == []
    assert result.rejected["not one of the task's labels"] >= 5
