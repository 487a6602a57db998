"""What a generation folder holds, rebuilt from its two files so that a rerun resumes where a run stopped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2m_lib.generate.journal import EXAMPLES_FILE, RAW_FILE, read_jsonl
from p2m_lib.llm.cost import Price
from p2m_lib.types import Completion, Example, Usage

# Until a folder has this many replies of a kind, the rate of passing the filters is assumed.
_MIN_OBSERVED = 10


@dataclass
class GenerationState:
    """What is on disk: accepted examples, what was spent, and inputs still waiting for outputs."""

    examples: list[Example] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    rejected: Counter[str] = field(default_factory=Counter)
    rounds: int = 0
    pending_inputs: list[str] = field(default_factory=list)
    # Pending inputs whose first samples disagreed, with those samples: the rest are asked for.
    first_votes: dict[str, list[str]] = field(default_factory=dict)
    # Per kind of request: replies on disk, and candidates that passed the filters.
    replies: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    # Accepted in raw.jsonl but not in examples.jsonl: a kill came between the two writes.
    unrecorded: list[Example] = field(default_factory=list)

    def acceptance(self, step: str, assumed: float) -> float:
        """Candidates that pass the filters per `step` reply, observed or, with few replies, assumed."""
        if self.replies[step] < _MIN_OBSERVED:
            return assumed
        return max(self.passed[step], 1) / self.replies[step]


def load_state(folder: Path, price: Price | None) -> GenerationState:
    """Rebuild the state from raw.jsonl and examples.jsonl (missing files read as empty)."""
    state = GenerationState()
    pending: dict[str, None] = {}
    from_replies: list[Example] = []
    for row in read_jsonl(folder / RAW_FILE):
        _count_reply(state, row, price)
        if row["step"] == "input":
            pending.update(dict.fromkeys(row.get("accepted", [])))
        elif row.get("asked_again"):
            state.first_votes[row["input"]] = row["samples"]
        else:
            pending.pop(row["input"], None)
            state.first_votes.pop(row["input"], None)
            if row.get("output") is not None:
                from_replies.append(Example(row["input"], row["output"]))
    # As in the run that wrote them, inputs asked again come first.
    state.pending_inputs = list(state.first_votes) + [p for p in pending if p not in state.first_votes]
    on_disk = [Example(r["input"], r["output"]) for r in read_jsonl(folder / EXAMPLES_FILE)]
    # raw.jsonl is written first: an example accepted just before a kill may be missing here.
    recorded = set(on_disk)
    state.unrecorded = [e for e in from_replies if e not in recorded]
    state.examples = on_disk + state.unrecorded
    return state


def _count_reply(state: GenerationState, row: dict[str, Any], price: Price | None) -> None:
    usage = row.get("usage", {})
    completion = Completion((), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
    state.usage = state.usage.add(completion)
    # Rows written before costs were recorded are priced now.
    fallback = (
        price.cost(completion.prompt_tokens, completion.completion_tokens) if price is not None else 0.0
    )
    state.cost += row.get("cost", fallback)
    state.rounds = max(state.rounds, row["round"] + 1)
    state.rejected.update(row.get("rejected", []))
    step = row["step"]
    state.replies[step] += 1
    state.passed[step] += len(row.get("accepted", [])) if step == "input" else row.get("output") is not None
