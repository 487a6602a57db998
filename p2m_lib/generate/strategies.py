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


def first_samples(samples: int) -> int:
    """Outputs to sample first for an input when the vote is over `samples`: a majority of them.

    When these all agree, their answer wins the vote of `samples` whatever the rest would say, so
    the rest need not be asked for (adaptive self-consistency); only inputs whose first samples
    disagree are asked again. The kept outputs are those of the full vote, for fewer samples:
    2 instead of 3 for nearly every input of a task the teacher knows.
    """
    return samples // 2 + 1


def sample_demonstrations(
    user_examples: Sequence[Example], generated: Sequence[Example], k: int, rng: random.Random
) -> list[Example]:
    """Few-shot diversity: the user's demonstrations plus `k` random generated examples, shuffled.

    Without the generated ones every request looks the same and the teacher repeats itself
    (the paper: 120 of 200 QA examples were duplicates without this, 25 with it). Putting the
    user's first in their own order would let the local teacher read that beginning once for a
    whole wave, but the one SST-2 run with that order scored 80.0 against 87.5 twice before
    (docs/BENCHMARKS.md, Quality), so the order stays random until more runs say otherwise.

    With `k` = 0 there is nothing to mix in: the user's demonstrations come as the prompt gives
    them, so every request for inputs is the same prompt, which the local teacher reads once for
    all its waves. The embedded teacher, sampled at 1.0 and above under min-p, copied its own
    plain inputs from generated examples more than it repeated itself without them (SST-2: 52
    duplicates rejected against none, 647 distinct words in 400 inputs against 857; dates: 4
    duplicates against 21, as many forms of date; docs/BENCHMARKS.md, Quality).
    """
    if k == 0:
        return list(user_examples)
    extra = rng.sample(list(generated), min(k, len(generated)))
    demonstrations = list(user_examples) + extra
    rng.shuffle(demonstrations)
    return demonstrations


# A classification task shows itself in the teacher's answers: once this many examples are
# generated, nearly all of them (this share) carry one of the demonstrations' outputs.
_MIN_LABELLED = 20
_CLOSED_SHARE = 0.9


def closed_label_set(user_examples: Sequence[Example], generated: Sequence[Example]) -> tuple[str, ...]:
    """The labels of a classification task, or () for any other task.

    A task is taken to be classification when its demonstrations show at least two outputs and,
    once enough examples are generated, nearly all of them are labelled with one of those (case
    and surrounding spaces aside). A date or an extracted span is rarely a demonstration's
    output again; a sentiment or a team name nearly always is.
    """
    labels = tuple(dict.fromkeys(label_key(e.output) for e in user_examples))
    if len(labels) < 2 or len(generated) < _MIN_LABELLED:
        return ()
    inside = sum(label_key(e.output) in labels for e in generated)
    return labels if inside >= _CLOSED_SHARE * len(generated) else ()


def label_counts(user_examples: Sequence[Example], generated: Sequence[Example]) -> dict[str, int]:
    """How many generated examples carry each label of a classification task; {} for another task.

    The teacher writes some classes far more than others (ticket routing: 7 "account" tickets in
    160); the counts show it. Evening them out was measured and left out: repeating rare rows
    cost 10 points on German tweets, and asking for inputs of the rare labels did not help on
    tickets or German tweets (docs/BENCHMARKS.md, Quality).
    """
    labels = closed_label_set(user_examples, generated)
    counts = Counter(label_key(e.output) for e in generated)
    return {label: counts[label] for label in labels}


def label_key(output: str) -> str:
    """How outputs are compared as labels: case and surrounding spaces aside."""
    return output.strip().casefold()
