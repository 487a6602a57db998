"""The request engine: its adaptive limit and backoff as logic, its run against the simulated endpoint."""

from __future__ import annotations

import email.utils
import itertools
import random
import time

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.llm.engine import AdaptiveLimit, Job, RequestEngine, parse_retry_after, retry_delay
from p2m_lib.llm.simulator import SimulatedEndpoint, SimulatorConfig
from p2m_lib.types import Completion, SamplingParams

PROMPT = "Reverse.\n\nInput: a b c\nOutput:"


def feed(count: int):
    """A `next_jobs` that hands out `count` numbered jobs, as many as there are free slots."""
    numbers = iter(range(count))
    return lambda free: [Job(PROMPT, SamplingParams(), n) for n in itertools.islice(numbers, free)]


def engine_for(endpoint: SimulatedEndpoint, **kwargs) -> RequestEngine:
    return RequestEngine(endpoint.base_url, "sim", "sk-secret", **{"backoff_base": 0.001, **kwargs})


def collect(engine: RequestEngine, count: int, on_failure=None):
    replies: dict[int, Completion] = {}
    stats = engine.run(feed(count), lambda job, c: replies.__setitem__(job.tag, c), on_failure)
    return replies, stats


def fill_window(limit: AdaptiveLimit, latency: float, busy: bool = True) -> None:
    """One window of replies at `latency`, with the whole limit in flight or a single request."""
    for _ in range(max(limit.limit, 4)):
        limit.on_reply(latency, limit.limit if busy else 1)


def test_limit_doubles_while_busy_and_fast_then_grows_by_an_eighth() -> None:
    limit = AdaptiveLimit(initial=8, maximum=1000)
    for _ in range(3):
        fill_window(limit, 0.1)
    assert limit.limit == 64

    limit.on_overload()
    assert limit.limit == 32
    fill_window(limit, 0.1)
    assert limit.limit == 36


def test_limit_does_not_grow_when_the_caller_does_not_use_it() -> None:
    limit = AdaptiveLimit(initial=8, maximum=1000)
    fill_window(limit, 0.1, busy=False)

    assert limit.limit == 8


def test_limit_shrinks_when_latency_rises_above_the_unloaded_one() -> None:
    limit = AdaptiveLimit(initial=40, maximum=1000, tolerance=1.5)
    fill_window(limit, 0.1)
    assert limit.limit == 80
    fill_window(limit, 0.2)

    assert limit.limit == 72


def test_overload_halves_once_per_window_and_respects_bounds() -> None:
    limit = AdaptiveLimit(initial=64, maximum=64, minimum=4)
    limit.on_overload()
    limit.on_overload()
    assert limit.limit == 32
    for _ in range(5):
        fill_window(limit, 0.1, busy=False)
        limit.on_overload()

    assert limit.limit == 4
    assert AdaptiveLimit(initial=500, maximum=16).limit == 16


def test_retry_delay_honours_retry_after_with_a_little_jitter() -> None:
    rng = random.Random(0)
    delays = [retry_delay(0, 2.0, base=0.5, cap=20, rng=rng) for _ in range(100)]

    assert all(2.0 <= d <= 2.2 for d in delays)
    assert retry_delay(0, 10_000.0, 0.5, 20, rng) <= 330


def test_retry_delay_without_retry_after_is_full_jitter_up_to_the_cap() -> None:
    rng = random.Random(0)
    third = [retry_delay(2, None, base=0.5, cap=20, rng=rng) for _ in range(200)]
    late = [retry_delay(10, None, base=0.5, cap=20, rng=rng) for _ in range(200)]

    assert 0 <= min(third) < 0.5 and 1.5 < max(third) <= 2.0
    assert max(late) <= 20


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5", "retry-after-ms": "nonsense"}, 0.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_takes_an_http_date() -> None:
    in_ten_seconds = email.utils.formatdate(time.time() + 10, usegmt=True)

    assert 8 < parse_retry_after({"retry-after": in_ten_seconds}) <= 10  # type: ignore[operator]


def test_every_job_gets_its_reply_and_the_limit_grows_on_a_wide_endpoint() -> None:
    with SimulatedEndpoint(SimulatorConfig(max_concurrency=64, latency_s=0.02, latency_jitter=0)) as endpoint:
        engine = engine_for(endpoint, initial_concurrency=4)
        replies, stats = collect(engine, 300)

    assert sorted(replies) == list(range(300))
    assert replies[0].texts == (" c b a\n\nInput: more",)
    assert (stats.attempts, stats.replies, stats.faults()) == (300, 300, {})
    assert engine.limit.limit > 4 and stats.peak_concurrency > 4


def test_429_waits_out_retry_after_then_succeeds() -> None:
    config = SimulatorConfig(latency_s=0.001, fault_schedule={1: "429"}, retry_after_s=0.3)
    with SimulatedEndpoint(config) as endpoint:
        started = time.monotonic()
        replies, stats = collect(engine_for(endpoint), 1)
        elapsed = time.monotonic() - started

    assert len(replies) == 1 and elapsed >= 0.3
    assert (stats.attempts, stats.rate_limited, endpoint.stats.arrivals) == (2, 1, 2)


def test_server_errors_and_broken_replies_are_retried() -> None:
    schedule = {1: "500", 3: "malformed", 5: "truncated", 6: "500"}
    config = SimulatorConfig(latency_s=0.001, fault_schedule=schedule)
    with SimulatedEndpoint(config) as endpoint:
        replies, stats = collect(engine_for(endpoint, initial_concurrency=1), 4)

    assert sorted(replies) == [0, 1, 2, 3]
    assert stats.faults() == {"server_errors": 2, "malformed": 1, "cut_off": 1}
    assert (stats.attempts, endpoint.stats.arrivals, endpoint.stats.replies) == (8, 8, 4)


def test_a_timed_out_request_is_retried() -> None:
    config = SimulatorConfig(latency_s=0.001, fault_schedule={1: "timeout"}, hang_s=5)
    with SimulatedEndpoint(config) as endpoint:
        replies, stats = collect(engine_for(endpoint, timeout=0.5), 1)

    assert len(replies) == 1
    assert (stats.timeouts, stats.attempts) == (1, 2)


def test_a_job_out_of_retries_goes_to_on_failure_and_the_others_go_on() -> None:
    config = SimulatorConfig(latency_s=0.001, fault_schedule={1: "500", 2: "500"})
    failures: list[tuple[int, str]] = []
    with SimulatedEndpoint(config) as endpoint:
        engine = engine_for(endpoint, initial_concurrency=1, max_retries=1)
        replies, stats = collect(engine, 3, on_failure=lambda job, why: failures.append((job.tag, why)))

    assert sorted(replies) == [1, 2]
    assert failures == [(0, f"the teacher LLM at {endpoint.base_url} answered HTTP 500: {_SERVER_ERROR}")]
    assert stats.failed == 1


_SERVER_ERROR = "The server had an error while processing your request."


def test_too_many_failures_in_a_row_stop_the_run() -> None:
    config = SimulatorConfig(latency_s=0.001, fault_rate=1.0, fault_kinds=("500",))
    with SimulatedEndpoint(config) as endpoint, pytest.raises(P2MError, match="3 requests in a row failed"):
        engine = engine_for(endpoint, initial_concurrency=1, max_retries=0, max_consecutive_failures=3)
        collect(engine, 10, on_failure=lambda job, why: None)

    assert endpoint.stats.arrivals == 3


def test_a_refusal_stops_the_run_at_once_without_the_key() -> None:
    config = SimulatorConfig(latency_s=0.001, api_key="sk-other")
    with SimulatedEndpoint(config) as endpoint, pytest.raises(P2MError, match="HTTP 401") as caught:
        collect(engine_for(endpoint), 5, on_failure=lambda job, why: None)

    assert "sk-secret" not in str(caught.value)
    assert endpoint.stats.arrivals <= 5
