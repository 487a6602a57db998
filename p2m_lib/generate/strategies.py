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
    user_examples: Sequence[Example], generated: Sequence[Example], k: int, rng: random.Random
) -> list[Example]:
    """Few-shot diversity: the user's demonstrations plus `k` random generated examples, shuffled.

    Without the generated ones every request looks the same and the teacher repeats itself
    (the paper: 120 of 200 QA examples were duplicates without this, 25 with it).
    """
    extra = rng.sample(list(generated), min(k, len(generated)))
    demonstrations = list(user_examples) + extra
    rng.shuffle(demonstrations)
    return demonstrations
