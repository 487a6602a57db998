"""Hit rates of dataset retrieval on prompts labelled with their relevant datasets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from p2m_lib.index.dataset_index import DatasetIndex
from p2m_lib.retrieve.datasets import retrieve_datasets


@dataclass(frozen=True)
class LabelledPrompt:
    """A task prompt and the catalog datasets that hold training data for it."""

    id: str
    prompt: str
    relevant: frozenset[str]


def read_labelled_prompts(path: Path) -> list[LabelledPrompt]:
    """JSONL rows of `{"id", "prompt", "relevant": [dataset names]}` (other fields are ignored)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [LabelledPrompt(row["id"], row["prompt"], frozenset(row["relevant"])) for row in rows]


def first_relevant_ranks(
    index: DatasetIndex, prompts: Sequence[LabelledPrompt], depth: int
) -> dict[str, int | None]:
    """For each prompt id, the 1-based rank of its best-ranked relevant dataset (None: not in `depth`)."""
    ranks: dict[str, int | None] = {}
    for labelled in prompts:
        names = [hit.name for hit in retrieve_datasets(index, labelled.prompt, depth)]
        ranks[labelled.id] = next(
            (rank for rank, name in enumerate(names, 1) if name in labelled.relevant), None
        )
    return ranks


def hit_rate(ranks: dict[str, int | None], cutoff: int) -> float:
    """Share of prompts with a relevant dataset in the top `cutoff`."""
    return sum(1 for rank in ranks.values() if rank is not None and rank <= cutoff) / len(ranks)
