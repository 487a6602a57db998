"""Generation through the OpenAI-compatible teacher against the simulated endpoint on loopback.

Faults are scheduled on given arrivals and every input the endpoint writes is new, so each test
knows exactly how many requests are paid for and what must be on disk at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from p2m_lib.config import GenerationConfig
from p2m_lib.generate import EXAMPLES_FILE, RAW_FILE, DatasetGenerator
from p2m_lib.llm import OpenAITeacher
from p2m_lib.llm.cost import PriceTable
from p2m_lib.llm.simulator import SimulatedEndpoint, SimulatorConfig, pattern_reply
from p2m_lib.types import Example, TaskSpec

KEY = "sk-test-secret-42"
MODEL = "sim-model"
TASK = TaskSpec(
    "Reverse the order of the words.",
    (Example("good morning world", "world morning good"), Example("the cat sat", "sat cat the")),
)
CONFIG = GenerationConfig(num_examples=6, samples_per_input=1, max_requests=100, max_new_tokens=4)


def distinct_inputs() -> Any:
    """Replies of the endpoint: numbered inputs never alike ("item 7 alpha"), outputs reversed."""
    numbers = itertools.count(1)

    def reply(prompt: str, n: int, rng: random.Random) -> list[str]:
        if prompt.endswith("Input:"):
            return [f" item {next(numbers)} alpha\nOutput: x" for _ in range(n)]
        return pattern_reply(prompt, n, rng)

    return reply


def endpoint(**config: Any) -> SimulatedEndpoint:
    return SimulatedEndpoint(SimulatorConfig(**{"latency_s": 0.005, **config}), reply=distinct_inputs())


def generator(
    server: SimulatedEndpoint, config: GenerationConfig = CONFIG, **kwargs: Any
) -> DatasetGenerator:
    teacher = OpenAITeacher(server.base_url, MODEL, KEY, timeout=1.0, backoff_base=0.001)
    return DatasetGenerator(teacher, config, **kwargs)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def asked_outputs_for(paid: list[dict[str, Any]]) -> list[str]:
    """The inputs whose outputs these paid requests asked for."""
    return [
        r["prompt"].rsplit("Input: ", 1)[1].split("\n")[0] for r in paid if r["prompt"].endswith("Output:")
    ]


def assert_disk_matches(folder: Path, server: SimulatedEndpoint, examples: tuple[Example, ...]) -> None:
    """Every paid reply is in raw.jsonl, every accepted example in examples.jsonl, the key nowhere."""
    raw = read_jsonl(folder / RAW_FILE)
    assert len(raw) == server.stats.replies
    assert sorted(r["texts"][0] for r in raw) == sorted(p["texts"][0] for p in server.stats.paid)
    assert [Example(**row) for row in read_jsonl(folder / EXAMPLES_FILE)] == list(examples)
    assert KEY not in (folder / RAW_FILE).read_text()


@pytest.mark.parametrize(
    ("schedule", "faults"),
    [
        ({1: "429", 2: "429"}, {"rate_limited": 2}),
        ({2: "500", 5: "500", 9: "500"}, {"server_errors": 3}),
        ({3: "timeout"}, {"timeouts": 1}),
        ({1: "malformed", 4: "truncated"}, {"malformed": 1, "cut_off": 1}),
    ],
)
def test_faults_are_overcome_and_every_paid_reply_is_on_disk(
    tmp_path: Path, schedule: dict[int, str], faults: dict[str, int]
) -> None:
    with endpoint(fault_schedule=schedule, retry_after_s=0.05, hang_s=5) as server:
        result = generator(server).generate(TASK, tmp_path)

    # Six inputs and six outputs are paid for; each fault cost one more attempt.
    assert (len(result.examples), result.usage.requests, result.stopped_by) == (6, 12, "done")
    assert result.faults == faults
    assert server.stats.arrivals == 12 + len(schedule)
    assert all(e.output == " ".join(reversed(e.input.split())) for e in result.examples)
    assert_disk_matches(tmp_path, server, result.examples)


def test_a_rate_limited_endpoint_is_kept_at_its_limit(tmp_path: Path) -> None:
    config = GenerationConfig(num_examples=30, samples_per_input=1, max_requests=200, max_new_tokens=4)
    with endpoint(rate_limit_rps=40) as server:
        result = generator(server, config).generate(TASK, tmp_path)

    assert (len(result.examples), result.usage.requests) == (30, 60)
    assert result.faults["rate_limited"] == server.stats.faults["429"] > 0
    assert server.stats.arrivals == 60 + server.stats.faults["429"]
    assert_disk_matches(tmp_path, server, result.examples)


def test_a_budget_that_runs_out_stops_cleanly_and_stays_spent(tmp_path: Path) -> None:
    # $1 a completion token, prompts free: every reply costs $3 ("item 7 alpha"), at worst $4.
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {MODEL: {"input": 0, "output": 1_000_000}}}))
    table = PriceTable.load(prices)
    folder = tmp_path / "run"
    with endpoint() as server:
        result = generator(server, max_cost=11.0, prices=table).generate(TASK, folder)
        again = generator(server, max_cost=11.0, prices=table).generate(TASK, folder)

        # A request starts only while its worst case fits: two inputs, then one output.
        assert (result.usage.requests, result.cost, result.stopped_by) == (3, 9.0, "max_cost")
        assert len(result.examples) == 1
        assert (server.stats.replies, again.usage.requests, again.cost, again.stopped_by) == (
            3,
            3,
            9.0,
            "max_cost",
        )
        assert_disk_matches(folder, server, result.examples)


def test_a_request_bound_leaves_no_input_without_its_output(tmp_path: Path) -> None:
    with endpoint() as server:
        result = generator(server, GenerationConfig(6, 1, max_requests=5, max_new_tokens=4)).generate(
            TASK, tmp_path
        )

    assert (result.usage.requests, len(result.examples), result.stopped_by) == (4, 2, "max_requests")
    assert_disk_matches(tmp_path, server, result.examples)


@pytest.fixture
def ctrl_c_interrupts():
    """Python's own SIGINT handler, as in a terminal: a shell starts background jobs (`make test &`)
    with SIGINT ignored, and Python then leaves it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_interrupts")
def test_interrupted_run_keeps_every_paid_reply_and_the_rerun_repeats_none(tmp_path: Path) -> None:
    config = GenerationConfig(num_examples=30, samples_per_input=1, max_requests=200, max_new_tokens=4)
    interrupt_on = 10
    replies = distinct_inputs()

    interrupted = threading.Lock()

    def reply_then_interrupt(prompt: str, n: int, rng: random.Random) -> list[str]:
        # Requests arrive concurrently, so the count may pass 10 between two checks: interrupt once,
        # at the first reply that sees 10 or more.
        if endpoint_.stats.arrivals >= interrupt_on and interrupted.acquire(blocking=False):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while requests are in flight
        return replies(prompt, n, rng)

    endpoint_ = SimulatedEndpoint(SimulatorConfig(latency_s=0.02), reply=reply_then_interrupt)
    with endpoint_ as server:
        with pytest.raises(KeyboardInterrupt):
            generator(server, config).generate(TASK, tmp_path)
        first = read_jsonl(tmp_path / RAW_FILE)
        # The requests in flight at the interrupt were waited for: everything paid is on disk.
        assert len(first) == server.stats.replies >= interrupt_on
        answered = {r["input"] for r in first if r["step"] == "output"}
        waiting = {i for r in first if r["step"] == "input" for i in r["accepted"]} - answered
        paid_before = server.stats.replies

        result = generator(server, config).generate(TASK, tmp_path)

        asked_again = asked_outputs_for(server.stats.paid[paid_before:])
    assert not answered & set(asked_again)
    assert waiting <= set(asked_again)
    assert len(asked_again) == len(set(asked_again))
    assert (len(result.examples), result.resumed_examples) == (30, len(answered))
    assert_disk_matches(tmp_path, server, result.examples)


_CHILD = """
import sys
from pathlib import Path
from p2m_lib.config import GenerationConfig
from p2m_lib.generate import DatasetGenerator
from p2m_lib.llm import OpenAITeacher
from p2m_lib.types import Example, TaskSpec

task = TaskSpec("Reverse the order of the words.", (Example("good morning world", "world morning good"),))
config = GenerationConfig(num_examples=200, samples_per_input=1, max_requests=1000, max_new_tokens=4)
teacher = OpenAITeacher(sys.argv[1], "sim-model", "sk-test-secret-42", backoff_base=0.001)
DatasetGenerator(teacher, config).generate(task, Path(sys.argv[2]))
"""


def test_a_killed_run_resumes_without_asking_again_for_what_is_on_disk(tmp_path: Path) -> None:
    config = GenerationConfig(num_examples=200, samples_per_input=1, max_requests=1000, max_new_tokens=4)
    task = TaskSpec(TASK.instruction, TASK.examples[:1])
    with endpoint(latency_s=0.05) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, server.base_url, str(tmp_path)], stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while server.stats.replies < 40 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        child.kill()  # SIGKILL: no chance to clean up
        assert child.wait() == -signal.SIGKILL
        first = read_jsonl(tmp_path / RAW_FILE)
        answered = {r["input"] for r in first if r["step"] == "output"}
        paid_before = server.stats.replies

        result = generator(server, config).generate(task, tmp_path)

        asked_again = asked_outputs_for(server.stats.paid[paid_before:])
    # Replies the endpoint had sent but the killed process had not yet read are not on disk.
    assert 0 < len(first) <= paid_before
    assert not answered & set(asked_again)
    assert len(result.examples) == 200
    assert len({e.input for e in result.examples}) == 200
    assert [Example(**row) for row in read_jsonl(tmp_path / EXAMPLES_FILE)] == list(result.examples)


def test_a_torn_last_line_and_an_unrecorded_example_are_repaired(tmp_path: Path) -> None:
    rows = [
        {
            "round": 0,
            "step": "input",
            "prompt": "p",
            "texts": [" a b c"],
            "accepted": ["a b c"],
            "rejected": [],
        },
        {
            "round": 1,
            "step": "output",
            "prompt": "q",
            "texts": [" c b a"],
            "input": "a b c",
            "output": "c b a",
        },
    ]
    (tmp_path / RAW_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"round": 2, "st')
    (tmp_path / EXAMPLES_FILE).write_text("")

    class NoTeacher:
        name, capable = "none", False

        def complete(self, prompts, params):
            raise AssertionError("a complete folder needs no request")

    result = DatasetGenerator(NoTeacher(), GenerationConfig(num_examples=1)).generate(TASK, tmp_path)

    assert result.examples == (Example("a b c", "c b a"),)
    assert read_jsonl(tmp_path / EXAMPLES_FILE) == [{"input": "a b c", "output": "c b a"}]
    assert read_jsonl(tmp_path / RAW_FILE) == rows


def test_filters_count_what_they_remove_and_keep_no_duplicates(tmp_path: Path) -> None:
    config = GenerationConfig(num_examples=40, samples_per_input=3, max_requests=400, max_new_tokens=8)
    server = SimulatedEndpoint(SimulatorConfig(latency_s=0.002, duplicate_rate=0.3))
    with server:
        result = generator(server, config).generate(TASK, tmp_path)

    raw = read_jsonl(tmp_path / RAW_FILE)
    candidates = sum(len(r["texts"]) for r in raw if r["step"] == "input")
    accepted = sum(len(r["accepted"]) for r in raw if r["step"] == "input")
    assert result.rejected["copy of a demonstration"] > 0
    assert sum(result.rejected.values()) == candidates - accepted
    assert len({e.input for e in result.examples}) == len(result.examples) == 40
    assert not {e.input for e in result.examples} & {e.input for e in TASK.examples}


def test_an_endpoint_is_asked_for_several_inputs_a_request_and_the_bound_keeps_room_for_their_outputs(
    tmp_path: Path,
) -> None:
    config = GenerationConfig(
        num_examples=40, samples_per_input=1, inputs_per_request=4, max_requests=400, max_new_tokens=4
    )
    with endpoint() as server:
        result = generator(server, config).generate(TASK, tmp_path)
        assert_disk_matches(tmp_path, server, result.examples)

    raw = read_jsonl(tmp_path / RAW_FILE)
    input_rows = [r for r in raw if r["step"] == "input"]
    assert {len(r["texts"]) for r in input_rows} == {4}
    assert len(result.examples) == 40
    # 40 inputs need 10 requests; requests sent together may bring a few more than needed.
    assert 10 <= len(input_rows) <= 16
    assert sum(r["step"] == "output" for r in raw) == 40

    # 9 requests left: one request for 4 inputs and their 4 outputs fits, a second does not.
    bounded = GenerationConfig(
        num_examples=40, samples_per_input=1, inputs_per_request=4, max_requests=9, max_new_tokens=4
    )
    with endpoint() as server:
        short = generator(server, bounded).generate(TASK, tmp_path / "bounded")
    steps = [r["step"] for r in read_jsonl(tmp_path / "bounded" / RAW_FILE)]
    assert (steps.count("input"), steps.count("output")) == (1, 4)
    assert (len(short.examples), short.stopped_by) == (4, "max_requests")


def test_the_estimate_sends_nothing_and_counts_what_is_on_disk(tmp_path: Path) -> None:
    teacher = OpenAITeacher("http://127.0.0.1:9/v1", "gpt-4o-mini", KEY)
    config = GenerationConfig(num_examples=100, samples_per_input=3, max_requests=1000)
    fresh = DatasetGenerator(teacher, config).estimate(TASK, tmp_path / "new")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / EXAMPLES_FILE).write_text('{"input": "x", "output": "y"}\n' * 50)
    half = DatasetGenerator(teacher, config).estimate(TASK, tmp_path / "half")

    # 100 examples / 95% of outputs kept = 106 output requests; / 80% of inputs kept = 133 input requests.
    assert (fresh.examples_left, fresh.output_requests, fresh.input_requests) == (100, 106, 133)
    assert 0 < fresh.cost < fresh.max_cost  # type: ignore[operator]
    assert half.examples_left == 50 and half.requests < fresh.requests
    assert "expected: 239 requests" in fresh.describe() and "$" in fresh.describe()

    # Four inputs a request: a quarter of the input requests, each with four inputs' tokens.
    several_config = replace(config, inputs_per_request=4)
    several = DatasetGenerator(teacher, several_config).estimate(TASK, tmp_path / "new")
    assert (several.output_requests, several.input_requests) == (106, 34)
    assert several.completion_tokens > fresh.completion_tokens - fresh.input_requests * 4
