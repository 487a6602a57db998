"""Exact match, chrF++ and BERTScore on pairs with known answers."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.evaluate import bertscore, chrf, exact_match, normalize, score
from p2m_lib.evaluate import metrics as metrics_module
from p2m_lib.evaluate.metrics import paired_difference
from p2m_lib.types import Metrics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat!", "cat"),
        ("  an   apple,  a pear ", "apple pear"),
        ("Theory of the mind.", "theory of mind"),
        ("Paris", "paris"),
        ("¿Qué?", "qué"),
        ("東京。", "東京"),
        ("a", ""),
        ("", ""),
        ("3.14 + 2", "314 2"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_exact_match_counts_normalised_equal_pairs() -> None:
    predictions = ["The cat.", "dog", "a bird", "fish"]
    references = ["cat", "Dog!", "bird?!", "shark"]
    assert exact_match(predictions, references) == 75.0
    assert exact_match(["yes", "no", "yes", "no"], ["yes", "yes", "no", "no"]) == 50.0


def test_chrf_identical_strings_score_100() -> None:
    assert chrf(["the cat sat on the mat", "hello"], ["the cat sat on the mat", "hello"]) == 100.0


def test_chrf_matches_sacrebleu_chrf_plus_plus() -> None:
    # Pinned from sacrebleu 2.6.0 CHRF(word_order=2).corpus_score on this pair.
    assert chrf(["The cat is on the mat."], ["The cat sat on the mat."]) == pytest.approx(67.49301, abs=1e-4)


@pytest.mark.parametrize("metric", [exact_match, chrf, bertscore, score])
def test_length_mismatch_is_a_clear_error(metric: Callable[..., object]) -> None:
    with pytest.raises(P2MError, match="2 predictions against 1 references"):
        metric(["a", "b"], ["a"])


@pytest.mark.parametrize("metric", [exact_match, chrf, bertscore, score])
def test_zero_pairs_is_a_clear_error(metric: Callable[..., object]) -> None:
    with pytest.raises(P2MError, match="zero predictions"):
        metric([], [])


@pytest.fixture(scope="module")
def offline_scorer() -> None:
    """Load the embedded MiniLM scorer once with every socket connection refused."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("BERTScore tried to reach the network")

    metrics_module._scorer.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.setattr(socket, "create_connection", refuse)
        bertscore(["warm up"], ["warm up"])


@pytest.mark.usefixtures("offline_scorer")
def test_bertscore_identical_pairs_near_100_and_different_pairs_lower() -> None:
    same = bertscore(
        ["the cat sat on the mat", "Paris is in France"], ["the cat sat on the mat", "Paris is in France"]
    )
    paraphrase = bertscore(["the cat sat on the mat"], ["a cat was sitting on the mat"])
    different = bertscore(["the cat sat on the mat"], ["quarterly revenue rose sharply"])
    assert same == pytest.approx(100.0, abs=0.01)
    # Raw MiniLM scores (no baseline rescaling): about 90 and 6 here.
    assert different < 30.0 < paraphrase < same


@pytest.mark.usefixtures("offline_scorer")
def test_bertscore_scores_empty_pairs_without_calling_the_encoder() -> None:
    # Both empty: 100 (identical). One side empty: 0. The mean is over all four pairs.
    predictions = ["", "   ", "something", "the cat sat on the mat"]
    references = ["", "a reference", "", "the cat sat on the mat"]
    assert bertscore(predictions, references) == pytest.approx(50.0, abs=0.01)
    assert bertscore([""], ["a reference"]) == 0.0


@pytest.mark.usefixtures("offline_scorer")
def test_score_returns_all_metrics_and_reuses_the_scorer() -> None:
    metrics = score(["the cat", "a dog"], ["cat", "bird"])
    assert isinstance(metrics, Metrics)
    assert metrics.exact_match == 50.0
    assert metrics.count == 2
    assert 0.0 < metrics.chrf < 100.0
    assert 0.0 < metrics.bertscore < 100.0
    assert metrics_module._scorer.cache_info().currsize == 1


def test_unknown_bertscore_encoder_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(P2MError, match="BERTScore encoder"):
        bertscore(["a"], ["b"], model=str(tmp_path))


def test_paired_difference_counts_rows_only_one_model_got_right_and_its_standard_error() -> None:
    references = ["red", "green", "blue", "gold"]
    student = ["red", "green", "pink", " Gold."]  # compared normalised, as exact match compares
    teacher = ["red", "pink", "blue", "pink"]
    # Per row: 0, +1, -1, +1; mean 0.25, sample variance 0.9167, standard error sqrt(0.9167 / 4).
    assert paired_difference(student, teacher, references) == {
        "difference": 25.0,
        "standard_error": 47.87,
        "only_student_right": 2,
        "only_teacher_right": 1,
        "rows": 4,
    }
    # One row: no spread to estimate, so no standard error.
    assert paired_difference(["x"], ["y"], ["y"])["standard_error"] == 0.0


@pytest.mark.parametrize(
    ("student", "teacher", "references", "message"),
    [
        ([], [], [], "cannot score zero predictions"),
        (["a"], ["a", "b"], ["a"], "cannot score 2 predictions against 1 references"),
    ],
)
def test_paired_difference_refuses_rows_that_do_not_pair_up(
    student: list[str], teacher: list[str], references: list[str], message: str
) -> None:
    with pytest.raises(P2MError, match=message):
        paired_difference(student, teacher, references)
