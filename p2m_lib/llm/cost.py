"""What the teacher costs: prices per model, token estimates, and a hard budget.

Prices come from `prices.json` beside this file (USD per million tokens), overlaid by the JSON
file that P2M_PRICES names, of the same shape. The embedded teacher runs in-process and is free.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from p2m_lib.errors import P2MError
from p2m_lib.types import Completion, SamplingParams

PRICES_ENV = "P2M_PRICES"
_PACKAGED_PRICES = Path(__file__).with_name("prices.json")
# English averages about 4 characters a token with GPT-style tokenizers: good for an estimate.
CHARS_PER_TOKEN = 4
# Role and message framing the endpoint adds to every prompt.
CHAT_OVERHEAD_TOKENS = 8
# Byte-level BPE never makes more tokens than bytes, so bytes bound a prompt's tokens from above
# until replies show the real ratio; the margin covers prompts a little denser than those seen.
_RATIO_MARGIN = 1.25


@dataclass(frozen=True)
class Price:
    """USD per million prompt (`input`) and completion (`output`) tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


FREE = Price(0.0, 0.0)


class PriceTable:
    """Prices by model name: an exact match, else the longest listed name the model's name starts with."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The packaged table overlaid by `path`, or by the file in P2M_PRICES when `path` is None.

        Raises:
            P2MError: The file is missing or is not a price table.
        """
        prices = _read_prices(_PACKAGED_PRICES)
        override = path or (Path(os.environ[PRICES_ENV]) if os.environ.get(PRICES_ENV) else None)
        if override is not None:
            prices |= _read_prices(override)
        return cls(prices)

    def get(self, model: str) -> Price | None:
        """The price of `model`, or None when the table does not list it."""
        if model in self.prices:
            return self.prices[model]
        prefixes = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(prefixes, key=len)] if prefixes else None


def _read_prices(path: Path) -> dict[str, Price]:
    try:
        models = json.loads(path.read_text(encoding="utf-8"))["models"]
        return {name: Price(float(p["input"]), float(p["output"])) for name, p in models.items()}
    except OSError as error:
        raise P2MError(f"cannot read the price table {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise P2MError(
            f'{path} is not a price table: write {{"models": {{"NAME": {{"input": USD, "output": USD}}}}}} '
            "in USD per million tokens"
        ) from None


def price_of(teacher: Any, table: PriceTable | None = None) -> Price | None:
    """What `teacher` charges: free for a model run in-process, else its model's entry in `table`."""
    from p2m_lib.llm.local import LocalTeacher

    if isinstance(teacher, LocalTeacher):
        return FREE
    return (table or PriceTable.load()).get(teacher.name)


def estimate_tokens(text: str, as_prompt: bool = True) -> int:
    """Tokens `text` is likely to cost (see CHARS_PER_TOKEN): as a prompt with its chat framing,
    else as a reply with its end token."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) + (CHAT_OVERHEAD_TOKENS if as_prompt else 1)


class Budget:
    """Hard limits on requests and money: a request starts only if its worst case still fits.

    Its worst case is its prompt's bytes as tokens (fewer once replies show the real ratio) plus
    `n * max_tokens` completion tokens. Reservations of requests in flight count as spent until
    their reply settles them at the real cost, or their failure releases them.

    Attributes:
        requests: Paid requests so far (earlier runs into the same folder included).
        cost: Money spent so far, in USD (0 when the price is unknown).
        stopped_by: "max_requests" or "max_cost" once a limit has refused a request, else None.
    """

    def __init__(
        self,
        price: Price | None,
        max_requests: int | None = None,
        max_cost: float | None = None,
        requests: int = 0,
        cost: float = 0.0,
    ) -> None:
        """Start from what earlier runs spent.

        Raises:
            P2MError: `max_cost` is set but the price is unknown.
        """
        if max_cost is not None and price is None:
            raise P2MError(
                f"--max-cost needs the teacher's price: add its model to a price table named by {PRICES_ENV} "
                f"(the format of {_PACKAGED_PRICES.name}), or drop --max-cost"
            )
        self.price = price
        self.max_requests = max_requests
        self.max_cost = max_cost
        self.requests = requests
        self.cost = cost
        self.stopped_by: str | None = None
        self._reserved_requests = 0
        self._reserved_cost = 0.0
        self._tokens_per_byte = 1.0
        self._ratio_seen = False

    def reserve(self, prompt: str, params: SamplingParams) -> float | None:
        """Reserve the worst case of one request; returns the amount, or None when it does not fit."""
        if self.max_requests is not None and self.requests + self._reserved_requests >= self.max_requests:
            self.stopped_by = "max_requests"
            return None
        worst = self._worst_case(prompt, params)
        if self.max_cost is not None and self.cost + self._reserved_cost + worst > self.max_cost:
            self.stopped_by = "max_cost"
            return None
        self._reserved_requests += 1
        self._reserved_cost += worst
        return worst

    def pairs_left(self, inputs_in_flight: int, inputs_per_request: int = 1) -> int | None:
        """Input requests the request bound leaves room for, each with the output requests of the
        `inputs_per_request` inputs it may bring; None if unbounded.

        Input requests in flight will need their output requests too.
        """
        if self.max_requests is None:
            return None
        outputs_owed = inputs_in_flight * inputs_per_request
        free = self.max_requests - self.requests - self._reserved_requests - outputs_owed
        left = free // (1 + inputs_per_request)
        if left <= 0:
            self.stopped_by = "max_requests"
        return max(left, 0)

    def settle(self, reserved: float, prompt: str, completion: Completion) -> float:
        """A reply arrived: replace its reservation by its real cost, which is returned."""
        self.release(reserved)
        self.requests += 1
        actual = (
            self.price.cost(completion.prompt_tokens, completion.completion_tokens)
            if self.price is not None
            else 0.0
        )
        self.cost += actual
        prompt_bytes = len(prompt.encode("utf-8"))
        if prompt_bytes and completion.prompt_tokens:
            ratio = min(1.0, _RATIO_MARGIN * completion.prompt_tokens / prompt_bytes)
            # The first real ratio replaces the bytes bound; later ones only raise it.
            self._tokens_per_byte = max(self._tokens_per_byte, ratio) if self._ratio_seen else ratio
            self._ratio_seen = True
        return actual

    def release(self, reserved: float) -> None:
        """A request failed without a reply: nothing was paid, its reservation is freed."""
        self._reserved_requests -= 1
        self._reserved_cost -= reserved

    def _worst_case(self, prompt: str, params: SamplingParams) -> float:
        if self.price is None:
            return 0.0
        prompt_tokens = math.ceil(len(prompt.encode("utf-8")) * self._tokens_per_byte) + CHAT_OVERHEAD_TOKENS
        return self.price.cost(prompt_tokens, params.n * params.max_tokens)


@dataclass(frozen=True)
class Estimate:
    """What a generation run is expected to cost, before it starts.

    Attributes:
        model: The teacher's name.
        price: Its price, or None when unknown.
        input_requests: Requests expected for new inputs.
        output_requests: Requests expected for outputs (self-consistency samples included).
        prompt_tokens: Prompt tokens expected over those requests.
        completion_tokens: Completion tokens expected.
        cost: Expected USD, or None when the price is unknown.
        max_requests: Most requests the run may still make.
        max_cost: USD if every one of those requests cost its worst case, or None.
        examples_left: Examples still to generate (some may be on disk already).
        acceptance: The rates assumed for inputs and outputs passing the filters.
    """

    model: str
    price: Price | None
    input_requests: int
    output_requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    max_requests: int
    max_cost: float | None
    examples_left: int
    acceptance: tuple[float, float]

    @property
    def requests(self) -> int:
        return self.input_requests + self.output_requests

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"requests": self.requests, "price": asdict(self.price) if self.price else None}

    def describe(self) -> str:
        """A few lines for a person: requests, tokens and money, expected and at most."""
        price = (
            f"at ${self.price.input:g} / ${self.price.output:g} per million prompt / completion tokens"
            if self.price
            else f"price unknown (add {self.model!r} to a table named by {PRICES_ENV})"
        )
        return "\n".join(
            [
                f"teacher: {self.model}, {price}",
                f"examples to generate: {self.examples_left} (assumed to pass the filters: "
                f"{self.acceptance[0]:.0%} of inputs, {self.acceptance[1]:.0%} of outputs)",
                f"expected: {self.requests} requests ({self.input_requests} for inputs, "
                f"{self.output_requests} for outputs), {self.prompt_tokens:,} prompt tokens, "
                f"{self.completion_tokens:,} completion tokens, {_money(self.cost)}",
                f"at most: {self.max_requests} requests, {_money(self.max_cost)}",
            ]
        )


def _money(amount: float | None) -> str:
    return "cost unknown" if amount is None else f"${amount:.4f}"
