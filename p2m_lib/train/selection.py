"""Which checkpoint is kept and when training stops early, from the validations logged so far.

Everything here is derived from the Trainer's log history, which checkpoints carry, so a
resumed run decides exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# The validation metric that picks the best checkpoint (a key of the Trainer's eval metrics);
# differences within the split's noise go to the later step (`is_kept`).
SELECTION_METRIC = "eval_exact_match"


def validation_history(log_history: Sequence[Mapping[str, Any]]) -> list[tuple[int, float, float]]:
    """(step, validation exact match, validation loss) of every validation, resumed ones included."""
    return [
        (int(entry["step"]), float(entry["eval_exact_match"]), float(entry["eval_loss"]))
        for entry in log_history
        if "eval_exact_match" in entry
    ]


def validation_tolerance(rows: int, top: float) -> float:
    """Exact-match points within which a validation counts as equal to the best so far, `top`:
    two standard errors of an exact match of `top` on `rows` rows, and at least one row.

    A validation split of a few dozen teacher-labelled rows is noisy. Within one row only, an
    AG News run from the prompt alone kept step 24 (72.5 on 40 rows, against 65.0 at step 120):
    it scored 62.5 on the real test set, step 120 95.0 (docs/BENCHMARKS.md, Quality).

    Examples: 40 rows at top 70: 14.5 points; 20 rows at top 100: 5.0 (one row).
    """
    if not rows:
        return 0.0
    share = top / 100.0
    two_standard_errors = 200.0 * math.sqrt(share * (1.0 - share) / rows)
    return max(100.0 / rows, two_standard_errors)


def is_kept(exact: float, top: float, rows: int) -> bool:
    """Whether a validation's checkpoint replaces the one kept so far (validations come in order).

    Exact match decides, but a difference within `validation_tolerance` of `top` on `rows`
    validation rows is noise: a checkpoint that close to `top`, the highest exact match of any
    validation so far (this one included), is as good, and the later one is kept. It has trained
    more, and on teacher-labelled rows the earlier one kept quick runs at an early validation:
    ticket routing 60.0 on real data at step 20 where the last step scored 77.5, AG News 62.5 at
    step 24 where step 120 scored 95.0 (docs/BENCHMARKS.md, Quality).

    Examples (20 rows, top 100, tolerance 5): 100 and 95 are kept, 90 is not.
    """
    return exact >= top - validation_tolerance(rows, top)


def validations_without_progress(history: Sequence[tuple[int, float, float]]) -> int:
    """How many of the latest validations improved on nothing seen before them.

    A validation makes progress when its exact match is higher, or its loss lower, than every
    earlier one's. Early stopping waits for `patience` validations in a row without either:
    a noisy validation split of a few dozen rows often dips once before the run improves again,
    and the learning rate is still high early in a run.
    """
    count = 0
    best_exact, best_loss = float("-inf"), float("inf")
    for _, exact, loss in history:
        count = 0 if exact > best_exact or loss < best_loss else count + 1
        best_exact, best_loss = max(best_exact, exact), min(best_loss, loss)
    return count
