"""Model retrieval: size limit, the paper's ranking, the embedded student, HyDE."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.index import ModelIndex, build_model_index, load_model_index, read_catalog
from p2m_lib.index.model_index import EMBEDDED_STUDENT
from p2m_lib.retrieve import retrieve_models

SHARED_MODELS = Path(__file__).resolve().parents[2].parent / "shared" / "catalogs" / "hf_models_2023.jsonl"


def test_models_over_the_size_limit_or_of_unknown_size_never_appear(small_model_index: ModelIndex) -> None:
    hits = retrieve_models(small_model_index, "Generate English text and product reviews.", top_k=10)

    names = [hit.name for hit in hits]
    assert "gpt2" in names and "gpt2-xl" not in names and "mystery/unsized" not in names
    small = retrieve_models(small_model_index, "Generate English text.", top_k=10, max_size_bytes=600_000_000)
    assert all(hit.size_bytes <= 600_000_000 for hit in small)


def test_ranking_is_similarity_times_log_downloads(small_model_index: ModelIndex) -> None:
    hits = retrieve_models(small_model_index, "Write product reviews.", top_k=2)

    popular, plain = hits[0], hits[1]
    assert (popular.name, plain.name) == ("shop/review-writer-2", "shop/review-writer-1")
    assert popular.score == pytest.approx(math.log10(99_998 + 2))
    assert plain.score == pytest.approx(math.log10(98 + 2))


def test_the_embedded_student_is_always_listed(small_model_index: ModelIndex) -> None:
    ranked = retrieve_models(small_model_index, "Write product reviews.", top_k=1)
    nothing_matches = retrieve_models(small_model_index, "zxqv wplk", top_k=5)

    assert [hit.name for hit in ranked] == ["shop/review-writer-2", EMBEDDED_STUDENT.name]
    assert [hit.to_dict() for hit in nothing_matches] == [
        {"name": EMBEDDED_STUDENT.name, "score": 0.0, "size_bytes": 517_000_000, "downloads": 0}
    ]
    assert nothing_matches[0].architecture == "decoder-only"


def test_a_capable_teacher_writes_a_model_card_that_is_searched(
    small_model_index: ModelIndex, fake_teacher: type
) -> None:
    teacher = fake_teacher("This model writes poetry with rhyming verse.")

    hits = retrieve_models(small_model_index, "Do my task.", top_k=1, teacher=teacher)

    assert hits[0].name == "poet/verse-gpt"
    assert "Task: Do my task." in teacher.prompts[0]


def test_an_incapable_teacher_is_not_asked_for_a_card(
    small_model_index: ModelIndex, fake_teacher: type
) -> None:
    teacher = fake_teacher("poetry", capable=False)

    retrieve_models(small_model_index, "Write product reviews.", teacher=teacher)

    assert teacher.prompts == []


def test_bad_limits_are_refused(small_model_index: ModelIndex) -> None:
    with pytest.raises(P2MError, match="must be positive"):
        retrieve_models(small_model_index, "Write.", max_size_bytes=0)


def test_the_shared_model_catalog_respects_the_default_size_limit(tmp_path: Path) -> None:
    build_model_index(read_catalog(SHARED_MODELS), tmp_path)

    hits = retrieve_models(
        load_model_index(tmp_path), "Generate tweets in the style of a famous person.", top_k=5
    )

    assert len(hits) == 6 and hits[-1].name == EMBEDDED_STUDENT.name
    assert all(hit.size_bytes <= 3_000_000_000 for hit in hits)
    scores = [hit.score for hit in hits[:5]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
