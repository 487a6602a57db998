"""The paper's three metrics: exact match, chrF++ and BERTScore, each a percentage in [0, 100].

`evaluate.load(...)` needs the network, so each metric is computed directly: exact match here,
chrF++ with sacrebleu, BERTScore with bert-score on a local encoder (the embedded MiniLM by default).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from p2m_lib.errors import P2MError
from p2m_lib.types import Metrics

if TYPE_CHECKING:
    from bert_score import BERTScorer

_ARTICLES = re.compile(r"\b(a|an|the)\b")
# The embedded all-MiniLM-L6-v2 has 6 layers; bert-score's table of layer counts does not list it.
_MINILM_LAYERS = 6


def normalize(text: str) -> str:
    """Normalise an answer for exact match, as in the SQuAD evaluation script.

    Steps, in order: lowercase; remove punctuation (ASCII `string.punctuation` and every Unicode
    punctuation character, so "。" or "¿" go too); remove the English articles "a", "an" and
    "the" as whole words; collapse runs of whitespace to one space and strip both ends.

    Args:
        text: The answer to normalise.

    Returns:
        The normalised answer, e.g. "The  Cat!" -> "cat".
    """
    lowered = text.lower()
    without_punctuation = "".join(char for char in lowered if not _is_punctuation(char))
    without_articles = _ARTICLES.sub(" ", without_punctuation)
    return " ".join(without_articles.split())


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Percentage of pairs whose normalised prediction equals the normalised reference.

    Raises:
        P2MError: The sequences differ in length or are empty.
    """
    _check_pairs(predictions, references)
    matches = sum(normalize(p) == normalize(r) for p, r in zip(predictions, references, strict=True))
    return 100.0 * matches / len(predictions)


def chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus-level chrF++ (sacrebleu `CHRF(word_order=2)`), 0-100.

    Raises:
        P2MError: The sequences differ in length or are empty.
    """
    from sacrebleu.metrics import CHRF

    _check_pairs(predictions, references)
    return float(CHRF(word_order=2).corpus_score(list(predictions), [list(references)]).score)


def bertscore(predictions: Sequence[str], references: Sequence[str], model: str | None = None) -> float:
    """Mean BERTScore F1 over the pairs, times 100.

    Empty texts never reach bert-score: with transformers 5 it crashes on them, and with older
    versions it warned and zeroed precision and recall but not F1. A side is empty when it is
    empty or whitespace only. A pair scores 100 when both sides are empty (the prediction is the
    reference) and 0 when only one is; every pair counts in the mean.

    Args:
        predictions: The model's answers.
        references: The expected answers, one per prediction.
        model: The encoder: None for the embedded all-MiniLM-L6-v2 (6 layers), else a bert-score
            model name or a local Hugging Face folder. Names in bert-score's table use its layer
            count; others use their last layer. With HF_HUB_OFFLINE=1 a name must already be in
            the local Hugging Face cache.

    Raises:
        P2MError: The sequences differ in length or are empty, or the encoder cannot be loaded.
    """
    _check_pairs(predictions, references)
    pairs = list(zip(predictions, references, strict=True))
    scorable = [(p, r) for p, r in pairs if p.strip() and r.strip()]
    # Both empty: identical answers. One empty: nothing in common.
    both_empty = sum(not p.strip() and not r.strip() for p, r in pairs)
    total = float(both_empty)
    if scorable:
        candidates, golds = zip(*scorable, strict=True)
        _, _, f1 = _scorer(*_resolve_encoder(model)).score(list(candidates), list(golds))
        total += float(f1.sum())
    return 100.0 * total / len(pairs)


def score(
    predictions: Sequence[str], references: Sequence[str], bertscore_model: str | None = None
) -> Metrics:
    """All three metrics of predictions against references.

    Args:
        predictions: The model's answers.
        references: The expected answers, one per prediction.
        bertscore_model: The BERTScore encoder; None for the embedded MiniLM (see `bertscore`).

    Raises:
        P2MError: The sequences differ in length or are empty, or the encoder cannot be loaded.
    """
    _check_pairs(predictions, references)
    return Metrics(
        exact_match=exact_match(predictions, references),
        chrf=chrf(predictions, references),
        bertscore=bertscore(predictions, references, bertscore_model),
        count=len(predictions),
    )


def paired_difference(
    student: Sequence[str], teacher: Sequence[str], references: Sequence[str]
) -> dict[str, float | int]:
    """The student's exact match minus the teacher's on the same rows, and how sure that is.

    Per row the difference is +1 where only the student is right, -1 where only the teacher is,
    else 0; their mean (in points) has a standard error of sqrt(sample variance / rows). On the
    quick profile's 40 rows one row is 2.5 points, and a student 8 points behind its teacher on
    200 real rows had tied it on the first 40 (docs/BENCHMARKS.md, Quality): a difference within
    about two standard errors of zero does not say which model is better.

    Returns:
        `difference` and `standard_error` in points (the error is 0 for one row: there is no
        spread to estimate it from), `only_student_right`, `only_teacher_right`, `rows`.

    Raises:
        P2MError: The sequences differ in length or are empty.
    """
    _check_pairs(student, references)
    _check_pairs(teacher, references)
    differences = [
        int(normalize(s) == normalize(r)) - int(normalize(t) == normalize(r))
        for s, t, r in zip(student, teacher, references, strict=True)
    ]
    rows = len(differences)
    mean = sum(differences) / rows
    variance = sum((d - mean) ** 2 for d in differences) / (rows - 1) if rows > 1 else 0.0
    return {
        "difference": round(100 * mean, 2),
        "standard_error": round(100 * math.sqrt(variance / rows), 2),
        "only_student_right": differences.count(1),
        "only_teacher_right": differences.count(-1),
        "rows": rows,
    }


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise P2MError(
            f"cannot score {len(predictions)} predictions against {len(references)} references: "
            "there must be exactly one reference per prediction"
        )
    if not predictions:
        raise P2MError("cannot score zero predictions: the test set is empty")


def _resolve_encoder(model: str | None) -> tuple[str, int | None]:
    """(model_type, num_layers) for bert-score; None layers leaves the count to bert-score."""
    from bert_score.utils import model2layers

    from p2m_lib.embedded import minilm_path

    if model is None:
        return str(minilm_path()), _MINILM_LAYERS
    if model in model2layers:
        return model, None
    return model, _last_layer(model)


def _last_layer(model: str) -> int:
    from transformers import AutoConfig

    try:
        return int(AutoConfig.from_pretrained(model).num_hidden_layers)
    except (OSError, ValueError, AttributeError) as error:
        raise P2MError(f"cannot read the BERTScore encoder {model!r}: {_one_line(error)}") from None


@lru_cache(maxsize=2)
def _scorer(model_type: str, num_layers: int | None) -> BERTScorer:
    """Load a BERTScore scorer once per process and encoder: loading takes seconds, scoring less."""
    from bert_score import BERTScorer

    try:
        return BERTScorer(model_type=model_type, num_layers=num_layers)
    except (OSError, ValueError) as error:
        raise P2MError(
            f"cannot load the BERTScore encoder {model_type!r}: {_one_line(error)}. Offline, pass a local "
            "model folder or leave the encoder unset for the embedded MiniLM"
        ) from None


def _one_line(error: Exception) -> str:
    """The error's message on one line without a final period (the CLI prints one line)."""
    return " ".join(str(error).split()).rstrip(".")
