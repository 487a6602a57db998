"""The promotion gate: whether an evaluated student may be deployed, and why.

The gate reads the evaluate step's scores (metrics.json) and footprint (footprint.json) and
checks the user's thresholds on the real test set when there is one, else on the held-out split,
whose labels the teacher wrote (the decision says so). By default it promotes a student only when
it is at least as good as the teacher prompted with the user's prompt (a gain of 0 points or
more); a threshold set to None is not checked. Scores are percentages, rounded to six decimals
before they are compared, so that a tie is a tie and not a rounding error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from p2m_lib.errors import P2MError

GATE_FILE = "gate.json"
# A threshold turned off, as a pipeline parameter spells it: KFP's local runner refuses a null in a dict.
OFF = "off"
# Test sets by preference: (prefix of their keys in metrics.json, how a reason names them).
TEST_SETS = (("real_", "your test set"), ("", "the held-out split"))
HELD_OUT_NOTE = (
    "no real test set: judged on the held-out split, whose labels the teacher wrote "
    "(a score there measures agreement with the teacher)"
)
_PLACES = 6


@dataclass(frozen=True)
class GateThresholds:
    """What a student must reach to be promoted; None: not checked.

    Attributes:
        min_exact_match: Least student exact match (0-100) on the test set.
        min_gain_over_teacher: Least student exact match minus the prompted teacher's, in points
            (0: at least as good as the teacher; negative: allowed to be that much worse).
        max_latency_ms: Most milliseconds per student answer, measured while evaluating.
    """

    min_exact_match: float | None = None
    min_gain_over_teacher: float | None = 0.0
    max_latency_ms: float | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, where: str = "gate") -> GateThresholds:
        """Thresholds from a mapping (a pipeline parameter, a fleet file); missing keys keep the default.

        Raises:
            P2MError: An unknown key (the valid ones are listed) or a value that is not a number,
                null or "off".
        """
        names = [field.name for field in fields(cls)]
        chosen: dict[str, float | None] = {}
        for key, value in (values or {}).items():
            if key not in names:
                raise P2MError(f"{where}: unknown threshold {key!r}; valid: {', '.join(names)}")
            if value == OFF:
                value = None
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise P2MError(
                    f"{where}.{key} must be a number, or null or {OFF!r} to turn it off, not {value!r}"
                )
            if value is not None and not math.isfinite(value):
                raise P2MError(f"{where}.{key} must be a finite number, not {value!r}")
            chosen[key] = None if value is None else float(value)
        return cls(**chosen)

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)

    def to_parameter(self) -> dict[str, float | str]:
        """The thresholds as the pipeline's `gate` parameter: every one, "off" for those not checked."""
        return {key: OFF if value is None else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict.

    Attributes:
        promote: Whether the student may be deployed.
        reasons: One line per check (passed or failed), after a note on the test set used.
        test_set: "real_test" (the user's labelled test set) or "test" (the held-out split).
        student_exact_match: The student's exact match there.
        teacher_exact_match: The prompted teacher's exact match there.
        gain_over_teacher: Their difference, in points.
        student_ms_per_answer: The student's time per answer; None when not measured.
        thresholds: The thresholds checked.
    """

    promote: bool
    reasons: tuple[str, ...]
    test_set: str
    student_exact_match: float
    teacher_exact_match: float
    gain_over_teacher: float
    student_ms_per_answer: float | None
    thresholds: GateThresholds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons), "thresholds": self.thresholds.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateDecision:
        return cls(
            **{
                **data,
                "reasons": tuple(data["reasons"]),
                "thresholds": GateThresholds.from_dict(data["thresholds"]),
            }
        )

    def numbers(self) -> dict[str, float]:
        """The decision as numbers (promote as 1 or 0), for KFP Metrics and annotations."""
        numbers = {
            "promote": float(self.promote),
            "student_exact_match": self.student_exact_match,
            "teacher_exact_match": self.teacher_exact_match,
            "gain_over_teacher": self.gain_over_teacher,
        }
        if self.student_ms_per_answer is not None:
            numbers["student_ms_per_answer"] = self.student_ms_per_answer
        return numbers


def decide(
    evaluations: Mapping[str, Any], footprint: Mapping[str, Any], thresholds: GateThresholds
) -> GateDecision:
    """Check `thresholds` against the scores of the evaluate step.

    Args:
        evaluations: metrics.json: `real_metrics`/`real_baseline_metrics` when a real test set
            was scored, and `metrics`/`baseline_metrics` on the held-out split.
        footprint: footprint.json: `student.ms_per_answer`; may be empty.
        thresholds: What the student must reach.

    Raises:
        P2MError: The evaluations hold no student and teacher scores.
    """
    prefix, label = next(
        ((prefix, label) for prefix, label in TEST_SETS if f"{prefix}baseline_metrics" in evaluations),
        (None, ""),
    )
    if prefix is None:
        raise P2MError("the promotion gate needs the student's and the teacher's scores: run evaluate first")
    student = round(float(evaluations[f"{prefix}metrics"]["exact_match"]), _PLACES)
    teacher = round(float(evaluations[f"{prefix}baseline_metrics"]["exact_match"]), _PLACES)
    gain = round(student - teacher, _PLACES)
    latency = (footprint.get("student") or {}).get("ms_per_answer")
    checks = [
        _at_least(f"student exact match on {label}", student, thresholds.min_exact_match, ""),
        _at_least(
            f"student minus teacher exact match on {label} ({student:.1f} - {teacher:.1f})",
            gain,
            thresholds.min_gain_over_teacher,
            " points",
        ),
        _latency(latency, thresholds.max_latency_ms),
    ]
    ran = [check for check in checks if check is not None]
    notes = [] if prefix == "real_" else [HELD_OUT_NOTE]
    if not ran:
        notes.append("no threshold set: promoted")
    return GateDecision(
        promote=all(passed for passed, _ in ran),
        reasons=tuple(notes + [reason for _, reason in ran]),
        test_set="real_test" if prefix == "real_" else "test",
        student_exact_match=student,
        teacher_exact_match=teacher,
        gain_over_teacher=gain,
        student_ms_per_answer=latency,
        thresholds=thresholds,
    )


def _at_least(what: str, value: float, threshold: float | None, unit: str) -> tuple[bool, str] | None:
    if threshold is None:
        return None
    passed = value >= round(threshold, _PLACES)
    relation = ">=" if passed else "<"
    verdict = "pass" if passed else "FAIL"
    return passed, f"{verdict}: {what} {value:.1f}{unit} {relation} {threshold:g}{unit}"


def _latency(latency: float | None, threshold: float | None) -> tuple[bool, str] | None:
    if threshold is None:
        return None
    if latency is None:
        return False, f"FAIL: student latency was not measured, so max_latency_ms {threshold:g} cannot hold"
    passed = latency <= threshold
    relation = "<=" if passed else ">"
    verdict = "pass" if passed else "FAIL"
    return passed, f"{verdict}: student latency {latency:g} ms an answer {relation} {threshold:g} ms"
