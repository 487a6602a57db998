"""The paper's generation rules as pure functions (DESIGN.md, Generation)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from p2m_lib.types import Example


def annealed_temperature(generated: int, wanted: int, initial: float, maximum: float) -> float:
    """Temperature annealing: T = initial + (maximum - initial) * generated / wanted.

    Low temperatures first keep early examples close to the demonstrations; higher ones later
    push the teacher away from what is already there. Capped at `maximum` once the set is full.
    """
    if wanted <= 0:
        return maximum
    fraction = min(generated / wanted, 1.0)
    return initial + (maximum - initial) * fraction


def self_consistent_output(outputs: Sequence[str]) -> str | None:
    """The most frequent non-empty output; ties go to the shortest, then to the first seen.

    Outputs are compared after stripping surrounding whitespace. Returns None when every
    output is empty.
    """
    candidates = [output.strip() for output in outputs if output.strip()]
    if not candidates:
        return None
    counts = Counter(candidates)
    first_seen = {text: index for index, text in reversed(list(enumerate(candidates)))}
    return min(counts, key=lambda text: (-counts[text], len(text), first_seen[text]))


def sample_demonstrations(
    user_examples: Sequence[Example],
    generated: Sequence[Example],
    k: int,
    rng: random.Random,
    label: str | None = None,
) -> list[Example]:
    """Few-shot diversity: the user's demonstrations plus `k` random generated examples, shuffled.

    Without the generated ones every request looks the same and the teacher repeats itself
    (the paper: 120 of 200 QA examples were duplicates without this, 25 with it). With `label`,
    only examples whose output is that label are shown, so that the teacher writes an input
    like them (see `closed_label_set`).
    """
    if label is not None:
        user_examples = [e for e in user_examples if _label(e.output) == label]
        generated = [e for e in generated if _label(e.output) == label]
    extra = rng.sample(list(generated), min(k, len(generated)))
    demonstrations = list(user_examples) + extra
    rng.shuffle(demonstrations)
    return demonstrations


# A classification task shows itself in the teacher's answers: after this many generated
# examples, nearly all of them (this share) carry one of the demonstrations' outputs.
_MIN_LABELLED = 20
_CLOSED_SHARE = 0.9


def closed_label_set(user_examples: Sequence[Example], generated: Sequence[Example]) -> tuple[str, ...]:
    """The labels of a classification task, or () for any other task.

    A task is taken to be classification when its demonstrations show at least two outputs and,
    once enough examples are generated, nearly all of them are labelled with one of those (case
    and surrounding spaces aside). A date or an extracted span is rarely a demonstration's
    output again; a sentiment or a team name nearly always is.
    """
    labels = tuple(dict.fromkeys(_label(e.output) for e in user_examples))
    if len(labels) < 2 or len(generated) < _MIN_LABELLED:
        return ()
    inside = sum(_label(e.output) in labels for e in generated)
    return labels if inside >= _CLOSED_SHARE * len(generated) else ()


def labels_to_ask_for(labels: Sequence[str], generated: Sequence[Example], count: int) -> list[str]:
    """A target label for each of `count` new inputs: always the label with the fewest examples so
    far (counting the targets already given), so that the classes even out as generation goes on.

    The teacher, asked freely, writes some classes far more often than others (ticket routing:
    7 "account" tickets in 160; German tweets: 32 neutral against 83 positive), and a student
    trained on that rarely answers the rare class. Repeating the rare rows instead overfit them
    (docs/BENCHMARKS.md, Quality); new inputs of the rare class do not.
    """
    counts = Counter(_label(e.output) for e in generated)
    totals = {label: counts[label] for label in labels}
    targets = []
    for _ in range(count):
        label = min(labels, key=lambda name: (totals[name], labels.index(name)))
        totals[label] += 1
        targets.append(label)
    return targets


def label_counts(user_examples: Sequence[Example], generated: Sequence[Example]) -> dict[str, int]:
    """How many generated examples carry each label of a classification task; {} for another task."""
    labels = closed_label_set(user_examples, generated)
    counts = Counter(_label(e.output) for e in generated)
    return {label: counts[label] for label in labels}


def _label(output: str) -> str:
    return output.strip().casefold()
