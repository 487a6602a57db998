"""Dataset retrieval: dense and BM25 candidates fused by reciprocal rank, optionally reranked by an LLM.

The settings below were tuned on tests/retrieval_prompts.jsonl (docs/BENCHMARKS.md, Retrieval).
They are not balanced on a knife's edge: with the others fixed, any RRF constant from 5 to 60
keeps 89-93% of prompts with a relevant dataset in the top 10 and 96% in the top 25.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from p2m_lib.errors import P2MError
from p2m_lib.index.dataset_index import DatasetIndex
from p2m_lib.index.text import name_words, tokenize
from p2m_lib.llm.base import reranks
from p2m_lib.retrieve.hits import DatasetHit
from p2m_lib.retrieve.query import RetrievalQuery, languages_named, make_query
from p2m_lib.retrieve.rerank import rerank

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher

log = logging.getLogger(__name__)

# How many candidates each retriever contributes to the fusion.
CANDIDATE_DEPTH = 200
# Reciprocal rank fusion constant: small, so that being near the top of either list counts most.
RRF_K = 10
# Words of the demonstrations count this much in BM25 next to the instruction's (which count 1).
DEMONSTRATION_WEIGHT = 0.2
# A dataset about another language than any the prompt names (and not about English) keeps this
# share of its score: a prompt in English rarely wants isiXhosa NER or Myanmar news.
LANGUAGE_MISMATCH_FACTOR = 0.5
# How many fused candidates a teacher that reranks is asked to reorder.
RERANK_DEPTH = 20


def retrieve_datasets(
    index: DatasetIndex, prompt: str, top_k: int = 25, teacher: Teacher | None = None
) -> list[DatasetHit]:
    """The `top_k` datasets of `index` most likely to hold training data for the prompt's task, best first.

    Args:
        index: A loaded dataset index.
        prompt: The user's prompt, or just its instruction (in English, for the encoder).
        top_k: How many datasets to return.
        teacher: A teacher LLM; one that reranks (`p2m_lib.llm.base.reranks`) reorders the top candidates.

    Raises:
        P2MError: The prompt is empty or `top_k` is below 1.
    """
    if top_k < 1:
        raise P2MError(f"--top-k must be at least 1, not {top_k}")
    query = make_query(prompt)
    fused = _fused_scores(index, query)
    reordering = teacher is not None and reranks(teacher)
    wanted = max(top_k, RERANK_DEPTH) if reordering else top_k
    rows = sorted(fused, key=lambda row: (-fused[row], row))[:wanted]
    hits = [
        DatasetHit(index.entries[row].name, fused[row], index.entries[row].description, index.entries[row])
        for row in rows
    ]
    if reordering:
        hits = rerank(teacher, query, hits[:RERANK_DEPTH]) + hits[RERANK_DEPTH:]
    return hits[:top_k]


def _fused_scores(index: DatasetIndex, query: RetrievalQuery) -> dict[int, float]:
    """Reciprocal rank fusion of the dense and BM25 rankings, as the mean of (k + 1) / (k + 1 + rank)."""
    fused: dict[int, float] = defaultdict(float)
    for ranking in (dense_ranking(index, query), lexical_ranking(index, query)):
        for rank, row in enumerate(ranking):
            fused[row] += (RRF_K + 1) / (RRF_K + 1 + rank) / 2
    for row in fused:
        if _language_mismatch(index, row, query.languages):
            fused[row] *= LANGUAGE_MISMATCH_FACTOR
    return dict(fused)


def dense_ranking(index: DatasetIndex, query: RetrievalQuery) -> list[int]:
    """Rows of the descriptions nearest to the instruction, best first."""
    _, rows = index.dense_search(query.instruction, CANDIDATE_DEPTH)
    return [int(row) for row in rows if row >= 0]


def lexical_ranking(index: DatasetIndex, query: RetrievalQuery) -> list[int]:
    """Rows with a positive BM25 score, best first; empty when no query word is in any description."""
    weights = dict.fromkeys(tokenize(query.demonstrations), DEMONSTRATION_WEIGHT)
    weights.update(dict.fromkeys(tokenize(query.instruction), 1.0))
    scores = index.bm25.scores(weights)
    depth = min(CANDIDATE_DEPTH, len(scores))
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [int(row) for row in top if scores[row] > 0]


def _language_mismatch(index: DatasetIndex, row: int, query_languages: frozenset[str]) -> bool:
    entry = index.entries[row]
    languages = languages_named(f"{name_words(entry.name)} {entry.description}")
    return bool(languages) and "english" not in languages and not languages & query_languages
