"""Model retrieval as in the paper: HyDE, BM25 over model cards, a size limit, popularity-weighted ranking."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from p2m_lib.errors import P2MError
from p2m_lib.index.catalog import CatalogEntry
from p2m_lib.index.model_index import DECODER_ONLY, LOCAL_TAG, ModelIndex
from p2m_lib.index.text import tokenize
from p2m_lib.retrieve.query import make_query
from p2m_lib.types import SamplingParams

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE_BYTES = 3_000_000_000
_HYDE_PROMPT = """Write the model card of a Hugging Face model that was fine-tuned for this task.

Task: {instruction}

Model card:
"""


@dataclass(frozen=True)
class ModelHit:
    """One retrieved student model.

    Attributes:
        name: Its hub name (or the embedded student's name).
        score: BM25 similarity (scaled so that the best match is 1) x log10(downloads + 2).
        size_bytes: Size of its weights.
        downloads: Hub downloads (0 for the embedded student).
        architecture: "encoder-decoder" or "decoder-only".
    """

    name: str
    score: float
    size_bytes: int
    downloads: int
    architecture: str

    def to_dict(self) -> dict[str, str | float | int]:
        return {
            "name": self.name,
            "score": round(self.score, 4),
            "size_bytes": self.size_bytes,
            "downloads": self.downloads,
        }


def retrieve_models(
    index: ModelIndex,
    prompt: str,
    top_k: int = 5,
    max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES,
    teacher: Teacher | None = None,
) -> list[ModelHit]:
    """The `top_k` best student models for the prompt's task, then any local student not among them.

    Models over `max_size_bytes`, or of unknown size, never appear. Local students (the embedded
    SmolLM2) that fit always do, ranked or not: offline they are the only ones that can be trained.

    Args:
        index: A loaded model index.
        prompt: The user's prompt, or its instruction.
        top_k: How many ranked models to return.
        max_size_bytes: The largest model weights allowed.
        teacher: A teacher LLM; when it is `capable`, it writes a hypothetical model card (HyDE)
            that is searched together with the instruction.

    Raises:
        P2MError: The prompt is empty, or `top_k` or `max_size_bytes` is not positive.
    """
    if top_k < 1 or max_size_bytes < 1:
        raise P2MError("--top-k and --max-size-bytes must be positive")
    query = _search_text(make_query(prompt).instruction, teacher)
    candidates = _fitting_similarities(index, query, max_size_bytes)
    ranked = sorted(
        (_hit(entry, similarity) for entry, similarity in candidates if similarity > 0),
        key=lambda hit: -hit.score,
    )[:top_k]
    listed = {hit.name for hit in ranked}
    local = [
        _hit(entry, similarity)
        for entry, similarity in candidates
        if LOCAL_TAG in entry.tags and entry.name not in listed
    ]
    return ranked + local


def hyde_card(teacher: Teacher, instruction: str) -> str:
    """A hypothetical model card for the task, written by the teacher (HyDE)."""
    params = SamplingParams(n=1, temperature=0.0, max_tokens=200, instruction=True)
    return teacher.complete([_HYDE_PROMPT.format(instruction=instruction)], params)[0].texts[0]


def _search_text(instruction: str, teacher: Teacher | None) -> str:
    """The instruction, with the teacher's hypothetical model card when the teacher is capable."""
    if teacher is None or not teacher.capable:
        return instruction
    try:
        return f"{instruction}\n{hyde_card(teacher, instruction)}"
    except P2MError as error:
        log.warning("HyDE skipped: the teacher failed (%s)", error)
        return instruction


def _fitting_similarities(
    index: ModelIndex, text: str, max_size_bytes: int
) -> list[tuple[CatalogEntry, float]]:
    """The models of known size within the limit, each with its BM25 score divided by the best one."""
    scores = index.bm25.scores(dict.fromkeys(tokenize(text), 1.0))
    fitting = [
        (entry, float(score))
        for entry, score in zip(index.entries, scores, strict=True)
        if entry.size_bytes is not None and entry.size_bytes <= max_size_bytes
    ]
    best = max((score for _, score in fitting), default=0.0)
    return [(entry, score / best if best > 0 else 0.0) for entry, score in fitting]


def _hit(entry: CatalogEntry, similarity: float) -> ModelHit:
    downloads = entry.downloads or 0
    return ModelHit(
        name=entry.name,
        score=similarity * math.log10(downloads + 2),
        size_bytes=entry.size_bytes or 0,
        downloads=downloads,
        architecture=entry.architecture or DECODER_ONLY,
    )
