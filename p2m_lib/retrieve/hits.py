"""What dataset retrieval returns, in a module of its own so that ranking and reranking share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from p2m_lib.index.catalog import CatalogEntry


@dataclass(frozen=True)
class DatasetHit:
    """One retrieved dataset.

    Attributes:
        name: Its hub name.
        score: Fused score in (0, 1]: 1 when both retrievers rank it first.
        description: Its catalog description.
        entry: Its whole catalog entry (configs, columns and their mapping), when known.
    """

    name: str
    score: float
    description: str
    entry: CatalogEntry | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, str | float]:
        return {"name": self.name, "score": round(self.score, 4), "description": self.description}

    def to_candidate(self) -> dict[str, Any]:
        """The hit with its catalog entry's fields: a catalog row with a score, for later steps."""
        return self.to_dict() | (self.entry.to_dict() if self.entry else {})
