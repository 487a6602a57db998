"""Retrieval benchmark: index build time and memory, in-process query latency, hit rates.

Run from the repository root:

    .venv/bin/python bench/retrieval.py                      # shared catalog + 100,000 synthetic entries
    .venv/bin/python bench/retrieval.py --synthetic-entries 0   # shared catalogs only
    .venv/bin/python bench/retrieval.py --synthetic-entries 0 --rerank-teacher qwen-coder-1.5b

Each catalog is benchmarked in its own process, so that its peak memory is its own. Figures are
printed as they come; the last line is one JSON object with all of them.

The synthetic catalog's index build is timed on --synthetic-build-entries entries: encoding
100,000 descriptions with MiniLM takes over an hour on two CPU cores, and build time grows
linearly with the entries. Query latency is measured on all --synthetic-entries entries, with
their BM25 index built for real and their dense vectors drawn at random (unit length): an exact
FAISS search costs the same whatever the vectors hold.

With --rerank-teacher, the hit rates at 1, 3 and 10 are measured again with that teacher
reordering each prompt's top 20 (as `retrieve_datasets` does with a capable teacher); the
rerank requests go to the teacher in batches, the way the teacher answers fastest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from p2m_lib.index import (  # noqa: E402
    Catalog,
    CatalogEntry,
    build_dataset_index,
    build_model_index,
    catalog_from_entries,
    load_dataset_index,
    load_model_index,
    read_catalog,
)
from p2m_lib.retrieve import retrieve_datasets, retrieve_models  # noqa: E402
from p2m_lib.retrieve.datasets import RERANK_DEPTH, dense_ranking, lexical_ranking  # noqa: E402
from p2m_lib.retrieve.evaluation import LabelledPrompt, hit_rate, read_labelled_prompts  # noqa: E402
from p2m_lib.retrieve.query import RetrievalQuery, make_query  # noqa: E402
from p2m_lib.retrieve.rerank import RERANK_PARAMS, reordered, rerank_prompt  # noqa: E402

SHARED = ROOT.parent / "shared" / "catalogs"
PROMPTS = ROOT / "tests" / "retrieval_prompts.jsonl"
CUTOFFS = (10, 25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--synthetic-entries", type=int, default=100_000, help="0 to skip the synthetic catalog"
    )
    parser.add_argument(
        "--synthetic-build-entries", type=int, default=10_000, help="synthetic entries whose build is timed"
    )
    parser.add_argument("--repeats", type=int, default=3, help="times each prompt is queried for latency")
    parser.add_argument("--rerank-teacher", help="a teacher (as --teacher takes) to measure reranking with")
    args = parser.parse_args()

    figures: dict[str, Any] = {"machine": _machine(), "prompts": len(read_labelled_prompts(PROMPTS))}
    figures["datasets_shared"] = _in_child(_bench_shared_datasets, args.repeats, args.rerank_teacher)
    figures["models_shared"] = _in_child(_bench_shared_models, args.repeats)
    if args.synthetic_entries:
        figures["datasets_synthetic_build"] = _in_child(_bench_synthetic_build, args.synthetic_build_entries)
        figures["datasets_synthetic"] = _in_child(
            _bench_synthetic_datasets, args.repeats, args.synthetic_entries
        )
    print(json.dumps(figures))


def _bench_shared_datasets(repeats: int, rerank_teacher: str | None) -> dict[str, Any]:
    prompts = read_labelled_prompts(PROMPTS)
    catalog = read_catalog(SHARED / "hf_datasets_2023.json")
    with tempfile.TemporaryDirectory() as folder:
        figures = _build(lambda: build_dataset_index(catalog, Path(folder)), Path(folder))
        index = load_dataset_index(Path(folder))
        figures |= _latency(lambda prompt: retrieve_datasets(index, prompt), prompts, repeats)
        figures["hit_rates"] = _hit_rates(index, prompts)
        if rerank_teacher:
            figures["reranked"] = _reranked_hit_rates(index, prompts, rerank_teacher)
    _report("datasets, shared catalog", figures)
    return figures


def _bench_synthetic_build(entries: int) -> dict[str, Any]:
    catalog = synthetic_catalog(read_catalog(SHARED / "hf_datasets_2023.json"), entries)
    with tempfile.TemporaryDirectory() as folder:
        figures = {"entries": entries} | _build(
            lambda: build_dataset_index(catalog, Path(folder)), Path(folder)
        )
    figures["build_s_per_1000"] = round(figures["build_s"] / entries * 1000, 2)
    _report(f"datasets, build of {entries} synthetic entries", figures)
    return figures


def _bench_synthetic_datasets(repeats: int, entries: int) -> dict[str, Any]:
    from unittest import mock

    prompts = read_labelled_prompts(PROMPTS)
    catalog = synthetic_catalog(read_catalog(SHARED / "hf_datasets_2023.json"), entries)
    with tempfile.TemporaryDirectory() as folder:
        with mock.patch("p2m_lib.index.dataset_index.encode_documents", _random_unit_vectors):
            figures = {"entries": entries, "dense_vectors": "random"}
            figures |= _build(lambda: build_dataset_index(catalog, Path(folder)), Path(folder))
        index = load_dataset_index(Path(folder))
        figures |= _latency(lambda prompt: retrieve_datasets(index, prompt), prompts, repeats)
    _report(f"datasets, {entries} synthetic entries (random dense vectors)", figures)
    return figures


def _random_unit_vectors(encoder: Any, texts: list[str], description: str) -> Any:
    import numpy as np

    vectors = np.random.default_rng(0).standard_normal((len(texts), encoder.get_embedding_dimension()))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _bench_shared_models(repeats: int) -> dict[str, Any]:
    prompts = read_labelled_prompts(PROMPTS)
    catalog = read_catalog(SHARED / "hf_models_2023.jsonl")
    with tempfile.TemporaryDirectory() as folder:
        figures = _build(lambda: build_model_index(catalog, Path(folder)), Path(folder))
        index = load_model_index(Path(folder))
        figures |= _latency(lambda prompt: retrieve_models(index, prompt), prompts, repeats)
    _report("models, shared catalog", figures)
    return figures


def synthetic_catalog(real: Catalog, entries: int, seed: int = 0) -> Catalog:
    """`entries` datasets whose descriptions are 1 to 4 sentences drawn from the real descriptions.

    Drawing real sentences keeps the vocabulary, the lengths and the term frequencies realistic.
    """
    generator = random.Random(seed)
    sentences = [
        sentence.strip() + "."
        for entry in real.entries
        for sentence in entry.description.split(". ")
        if len(sentence.split()) > 3
    ]
    descriptions = (" ".join(generator.sample(sentences, generator.randint(1, 4))) for _ in range(entries))
    rows = (
        CatalogEntry(f"synthetic/dataset-{number:06d}", description)
        for number, description in enumerate(descriptions)
    )
    return catalog_from_entries(rows, f"synthetic-{entries}")


def _build(build: Callable[[], object], folder: Path) -> dict[str, Any]:
    """Build time, the process's peak memory after it, and the index's size on disk."""
    start = time.perf_counter()
    build()
    seconds = time.perf_counter() - start
    size = sum(path.stat().st_size for path in folder.iterdir())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return {
        "build_s": round(seconds, 1),
        "peak_rss_mb": round(peak / 2**20),
        "index_mb": round(size / 2**20, 1),
    }


def _latency(query: Callable[[str], object], prompts: list[LabelledPrompt], repeats: int) -> dict[str, Any]:
    """p50/p99 of in-process queries (after one warm-up that loads the encoder)."""
    query(prompts[0].prompt)
    timings = []
    for _ in range(repeats):
        for labelled in prompts:
            start = time.perf_counter()
            query(labelled.prompt)
            timings.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(timings, n=100)
    return {"queries": len(timings), "p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1)}


def _hit_rates(index: Any, prompts: list[LabelledPrompt]) -> dict[str, dict[str, float]]:
    """Hit rates of the fused retriever and of each retriever alone, on the whole prompt and on its parts."""
    rankers: dict[str, Callable[[LabelledPrompt], list[str]]] = {
        "fused (p2m)": lambda p: [hit.name for hit in retrieve_datasets(index, p.prompt, max(CUTOFFS))],
        "bm25, whole prompt": lambda p: _names(index, lexical_ranking(index, _whole(p.prompt))),
        "minilm, whole prompt": lambda p: _names(index, dense_ranking(index, _whole(p.prompt))),
        "bm25, instruction + weighted demonstrations": lambda p: _names(
            index, lexical_ranking(index, make_query(p.prompt))
        ),
        "minilm, instruction": lambda p: _names(index, dense_ranking(index, make_query(p.prompt))),
    }
    rates = {}
    for label, ranker in rankers.items():
        ranks = {p.id: _first_relevant(ranker(p), p.relevant) for p in prompts}
        rates[label] = {f"top{cutoff}": round(hit_rate(ranks, cutoff), 3) for cutoff in CUTOFFS}
    return rates


def _reranked_hit_rates(index: Any, prompts: list[LabelledPrompt], teacher_name: str) -> dict[str, Any]:
    """Hit rates at 1, 3 and 10 of the fused top 20 as it is and as the teacher reorders it."""
    from p2m_lib.llm import make_teacher
    from p2m_lib.llm.base import batch_size_for

    teacher = make_teacher(teacher_name)
    queries = [make_query(p.prompt) for p in prompts]
    fused = [retrieve_datasets(index, p.prompt, RERANK_DEPTH) for p in prompts]
    requests = [rerank_prompt(query, hits) for query, hits in zip(queries, fused, strict=True)]
    start = time.perf_counter()
    replies: list[str] = []
    batch = min(batch_size_for(teacher), 8)
    for first in range(0, len(requests), batch):
        completions = teacher.complete(requests[first : first + batch], RERANK_PARAMS)
        replies += [completion.texts[0] for completion in completions]
        print(f"  reranked {len(replies)}/{len(requests)}", flush=True)
    seconds = time.perf_counter() - start
    rankings = {
        "fused (p2m)": fused,
        f"fused, reranked by {teacher.name}": [
            reordered(hits, reply) for hits, reply in zip(fused, replies, strict=True)
        ],
    }
    rates: dict[str, Any] = {
        "teacher": teacher.name,
        "seconds_per_request": round(seconds / len(requests), 1),
    }
    for label, ranking in rankings.items():
        ranks = {
            p.id: _first_relevant([hit.name for hit in hits], p.relevant)
            for p, hits in zip(prompts, ranking, strict=True)
        }
        rates[label] = {f"top{cutoff}": round(hit_rate(ranks, cutoff), 3) for cutoff in (1, 3, 10)}
    return rates


def _whole(prompt: str) -> RetrievalQuery:
    return RetrievalQuery(instruction=prompt, demonstrations="", languages=frozenset())


def _names(index: Any, rows: list[int]) -> list[str]:
    return [index.entries[row].name for row in rows]


def _first_relevant(names: list[str], relevant: frozenset[str]) -> int | None:
    return next((rank for rank, name in enumerate(names, 1) if name in relevant), None)


def _machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def _in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _report(title: str, figures: dict[str, Any]) -> None:
    print(f"== {title}", flush=True)
    for key, value in figures.items():
        print(f"  {key}: {value}", flush=True)


if __name__ == "__main__":
    main()
