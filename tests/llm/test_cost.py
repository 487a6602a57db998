"""Prices, estimates of tokens, and the hard budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.llm import LocalTeacher, OpenAITeacher
from p2m_lib.llm.cost import FREE, PRICES_ENV, Budget, Price, PriceTable, estimate_tokens, price_of
from p2m_lib.types import Completion, SamplingParams


def write_prices(path: Path, models: dict[str, dict[str, float]]) -> Path:
    path.write_text(json.dumps({"models": models}))
    return path


def test_packaged_prices_match_exact_names_then_the_longest_prefix() -> None:
    table = PriceTable.load()

    assert table.get("gpt-4o-mini") == Price(0.15, 0.6)
    assert table.get("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6)
    assert table.get("gpt-4o-2024-08-06") == Price(2.5, 10.0)
    assert table.get("my-local-llama") is None


def test_a_price_file_in_the_environment_overrides_and_extends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = write_prices(
        tmp_path / "p.json", {"gpt-4o-mini": {"input": 1, "output": 2}, "llama": {"input": 0, "output": 0}}
    )
    monkeypatch.setenv(PRICES_ENV, str(prices))
    table = PriceTable.load()

    assert (table.get("gpt-4o-mini"), table.get("llama-3-8b"), table.get("gpt-4o")) == (
        Price(1, 2),
        Price(0, 0),
        Price(2.5, 10.0),
    )


@pytest.mark.parametrize("content", ["not json", '{"models": {"m": {"input": 1}}}', "[]"])
def test_a_broken_price_file_says_what_the_format_is(tmp_path: Path, content: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)

    with pytest.raises(P2MError, match="is not a price table"):
        PriceTable.load(path)


def test_a_missing_price_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(P2MError, match="cannot read the price table"):
        PriceTable.load(tmp_path / "missing.json")


def test_the_local_teacher_is_free_and_a_remote_one_priced_by_its_model() -> None:
    assert price_of(LocalTeacher()) == FREE
    assert price_of(OpenAITeacher("http://127.0.0.1:1/v1", "gpt-4o-mini", "k")) == Price(0.15, 0.6)
    assert price_of(OpenAITeacher("http://127.0.0.1:1/v1", "mystery", "k")) is None


def test_price_and_token_estimates() -> None:
    assert Price(0.15, 0.6).cost(1_000_000, 500_000) == pytest.approx(0.45)
    assert estimate_tokens("x" * 40) == 18
    assert estimate_tokens("x" * 40, as_prompt=False) == 11


PARAMS = SamplingParams(n=2, max_tokens=10)


def test_budget_reserves_the_worst_case_and_settles_the_real_cost() -> None:
    # $1 per completion token; prompts free: each request costs at most 2 * 10 = $20.
    budget = Budget(Price(0, 1e6), max_cost=50)

    first, second = budget.reserve("p", PARAMS), budget.reserve("p", PARAMS)
    assert (first, second, budget.reserve("p", PARAMS)) == (20, 20, None)
    assert budget.stopped_by == "max_cost"

    assert budget.settle(first, "p", Completion(("a", "b"), 1, 3)) == 3
    budget.release(second)
    assert budget.reserve("p", PARAMS) == 20
    assert (budget.requests, budget.cost) == (1, 3)


def test_budget_counts_requests_in_flight_against_max_requests() -> None:
    budget = Budget(None, max_requests=3, requests=1)

    assert [budget.reserve("p", PARAMS) for _ in range(3)] == [0.0, 0.0, None]
    assert budget.stopped_by == "max_requests"


def test_room_for_input_requests_counts_the_outputs_of_every_input_they_bring() -> None:
    budget = Budget(None, max_requests=30, requests=4)

    # 26 requests left: one input at a time needs 2; four inputs a request need 5.
    assert budget.pairs_left(0) == 13
    assert budget.pairs_left(0, inputs_per_request=4) == 5
    # Two requests for four inputs in flight owe 8 outputs: 18 left, 3 more requests of 5.
    assert budget.pairs_left(2, inputs_per_request=4) == 3
    assert budget.pairs_left(6, inputs_per_request=4) == 0
    assert budget.stopped_by == "max_requests"


def test_budget_bounds_prompt_tokens_by_bytes_until_a_reply_shows_the_ratio() -> None:
    budget = Budget(Price(1e6, 0), max_cost=1000)
    prompt = "word " * 40  # 200 bytes

    assert budget.reserve(prompt, PARAMS) == 208  # bytes + chat framing
    budget.settle(208, prompt, Completion(("x",), prompt_tokens=48, completion_tokens=1))
    assert budget.reserve(prompt, PARAMS) == 68  # 200 * 1.25 * 48 / 200 + 8


def test_a_cost_limit_needs_a_known_price() -> None:
    with pytest.raises(P2MError, match="--max-cost needs the teacher's price"):
        Budget(None, max_cost=1.0)
