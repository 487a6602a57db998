"""The simulated endpoint, spoken to over plain HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import sys
import threading
from typing import Any

import pytest

from p2m_lib.llm.simulator import SimulatedEndpoint, SimulatorConfig, pattern_reply

INPUT_PROMPT = "Reverse the words.\n\nInput: good morning world\nOutput: world morning good\n\nInput:"
OUTPUT_PROMPT = (
    "Reverse the words.\n\nInput: good morning world\nOutput: world morning good\n\nInput: a b c\nOutput:"
)


def post(
    endpoint: SimulatedEndpoint, body: dict[str, Any], key: str | None = None
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=5)
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    connection.request("POST", "/v1/chat/completions", json.dumps(body), headers)
    return connection.getresponse()


def chat(prompt: str = OUTPUT_PROMPT, n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"model": "sim", "messages": [{"role": "user", "content": prompt}], "n": n, **extra}


def test_pattern_reply_continues_input_and_output_prompts() -> None:
    rng = random.Random(0)

    (new_input,) = pattern_reply(INPUT_PROMPT, 1, rng)
    copies = pattern_reply(INPUT_PROMPT, 3, rng, duplicate_rate=1.0)

    assert new_input.startswith(" ") and len(new_input.split("\n")[0].split()) == 5
    assert [c.split("\n")[0] for c in copies] == [" good morning world"] * 3
    assert pattern_reply(OUTPUT_PROMPT, 2, rng) == [" c b a\n\nInput: more"] * 2


def test_a_reply_is_a_chat_completion_cut_at_stop_with_word_counts() -> None:
    with SimulatedEndpoint(SimulatorConfig(latency_s=0.001)) as endpoint:
        response = post(endpoint, chat(n=2, stop=["\n\n"]))
        body = json.loads(response.read())

    assert response.status == 200
    assert [c["message"]["content"] for c in body["choices"]] == [" c b a", " c b a"]
    assert body["usage"]["completion_tokens"] == 6
    assert endpoint.stats.counters() == {
        "arrivals": 1,
        "replies": 1,
        "prompt_tokens": body["usage"]["prompt_tokens"],
        "completion_tokens": 6,
        "faults": {},
        "peak_concurrency": 1,
    }
    assert endpoint.stats.paid == [{"prompt": OUTPUT_PROMPT, "texts": [" c b a", " c b a"]}]


def test_requests_beyond_capacity_wait_in_a_queue() -> None:
    with SimulatedEndpoint(SimulatorConfig(max_concurrency=2, latency_s=0.05)) as endpoint:
        threads = [threading.Thread(target=lambda: post(endpoint, chat()).read()) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert (endpoint.stats.replies, endpoint.stats.peak_concurrency) == (6, 2)


def test_rate_limit_answers_429_with_retry_after() -> None:
    with SimulatedEndpoint(SimulatorConfig(latency_s=0.001, rate_limit_rps=2)) as endpoint:
        statuses = [post(endpoint, chat()) for _ in range(3)]

    assert [r.status for r in statuses] == [200, 200, 429]
    assert statuses[2].getheader("Retry-After") == "1"
    assert 0 < int(statuses[2].getheader("retry-after-ms")) <= 500
    assert endpoint.stats.faults == {"429": 1}


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("500", lambda r: r.status == 500 and b"error" in r.read()),
        ("malformed", lambda r: r.status == 200 and not _is_json(r.read())),
        ("truncated", lambda r: r.status == 200 and _raises(r.read, http.client.IncompleteRead)),
        ("429", lambda r: r.status == 429 and r.getheader("retry-after-ms") == "250"),
    ],
)
def test_scheduled_faults_hit_the_given_arrivals(fault: str, check: Any) -> None:
    config = SimulatorConfig(latency_s=0.001, fault_schedule={2: fault}, retry_after_s=0.25)
    with SimulatedEndpoint(config) as endpoint:
        first, second = post(endpoint, chat()), post(endpoint, chat())
        first.read()

        assert first.status == 200 and check(second)

    assert endpoint.stats.faults == {fault: 1}
    assert endpoint.stats.replies == 1


def test_timeout_fault_answers_nothing() -> None:
    config = SimulatorConfig(latency_s=0.001, fault_schedule={1: "timeout"}, hang_s=0.05)
    with SimulatedEndpoint(config) as endpoint, pytest.raises(http.client.RemoteDisconnected):
        post(endpoint, chat())

    assert endpoint.stats.faults == {"timeout": 1}


def test_refusals_like_a_real_endpoint() -> None:
    with SimulatedEndpoint(SimulatorConfig(model="sim", api_key="sk-right")) as endpoint:
        wrong_key = post(endpoint, chat(), key="sk-wrong")
        wrong_model = post(endpoint, chat() | {"model": "other"}, key="sk-right")

    assert (wrong_key.status, wrong_model.status) == (401, 404)
    assert endpoint.stats.replies == 0


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        SimulatorConfig(fault_schedule={1: "meltdown"})


def test_capacity_is_the_tightest_limit() -> None:
    config = SimulatorConfig(max_concurrency=100, latency_s=0.2, tokens_per_s=2000)

    assert config.capacity_rps() == 500
    assert config.capacity_rps(completion_tokens_per_request=10) == 200
    assert SimulatorConfig(max_concurrency=100, latency_s=0.2, rate_limit_rps=50).capacity_rps() == 50


def test_runs_as_a_program_and_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "p2m_lib.llm.simulator", "--port", "0", "--latency", "0.001"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()  # type: ignore[union-attr]
        port = int(base_url.removeprefix("http://127.0.0.1:").removesuffix("/v1"))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/stats")
        stats = json.loads(connection.getresponse().read())
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert stats["arrivals"] == 0


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _raises(call: Any, error: type[Exception]) -> bool:
    try:
        call()
    except error:
        return True
    return False
