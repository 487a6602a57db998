"""Which checkpoint is kept and when training stops early, from the validations logged so far.

Everything here is derived from the Trainer's log history and best step, which checkpoints
carry, so a resumed run decides exactly as an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The validation metric that picks the best checkpoint (a key of the Trainer's eval metrics);
# ties within one validation row go to the lower loss (`is_better`).
SELECTION_METRIC = "eval_exact_match"


def validation_history(log_history: Sequence[Mapping[str, Any]]) -> list[tuple[int, float, float]]:
    """(step, validation exact match, validation loss) of every validation, resumed ones included."""
    return [
        (int(entry["step"]), float(entry["eval_exact_match"]), float(entry["eval_loss"]))
        for entry in log_history
        if "eval_exact_match" in entry
    ]


def validation_tolerance(rows: int) -> float:
    """Exact-match points within which two validations count as equal: one row of `rows`."""
    return 100.0 / rows if rows else 0.0


def is_better(
    candidate: tuple[float, float], best: tuple[float, float] | None, top: float, tolerance: float
) -> bool:
    """Whether a validation (exact match, loss) beats the best one so far and should be kept.

    Exact match decides, but a difference of at most `tolerance` (one validation row) is noise
    on a validation split of a few dozen rows: such validations are equal, and the lower loss
    wins. A candidate must also be within `tolerance` of `top`, the highest exact match of any
    validation so far (the candidate included), so a run of equal-looking steps cannot drift
    down from the best score.

    Examples (tolerance 5): 100 beats 90; 95 with a lower loss beats 100; 95 with a higher
    loss does not; 90 never beats a best of 100 whatever its loss.
    """
    exact, loss = candidate
    if best is None:
        return True
    if exact < top - tolerance:
        return False
    best_exact, best_loss = best
    return exact > best_exact + tolerance or (exact >= best_exact - tolerance and loss < best_loss)


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
