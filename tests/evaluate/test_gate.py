"""The promotion gate: which test set it judges on, each threshold, ties, and thresholds left out."""

import json

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.evaluate.gate import HELD_OUT_NOTE, GateDecision, GateThresholds, decide
from p2m_lib.stages import gate_stage

pytestmark = pytest.mark.fleet


def scores(student, teacher, prefix=""):
    return {
        f"{prefix}metrics": {"exact_match": student, "chrf": 50.0, "bertscore": 90.0, "count": 40},
        f"{prefix}baseline_metrics": {"exact_match": teacher, "chrf": 60.0, "bertscore": 91.0, "count": 40},
    }


FOOTPRINT = {"student": {"disk_bytes": 1000, "ms_per_answer": 42.5}, "teacher": {"name": "qwen"}}


def test_the_default_promotes_a_student_as_good_as_the_teacher_and_no_worse():
    # The held-out split favours the teacher; the real test set is the one judged.
    evaluations = scores(70.0, 100.0) | scores(85.0, 85.0, "real_")
    tie = decide(evaluations, FOOTPRINT, GateThresholds())
    assert tie.promote is True
    assert tie.test_set == "real_test"
    assert tie.reasons == (
        "pass: student minus teacher exact match on your test set (85.0 - 85.0) 0.0 points >= 0 points",
    )
    worse = decide(scores(70.0, 100.0) | scores(84.9, 85.0, "real_"), FOOTPRINT, GateThresholds())
    assert worse.promote is False
    assert worse.gain_over_teacher == pytest.approx(-0.1)
    assert worse.reasons[0].startswith("FAIL: student minus teacher exact match on your test set")


def test_a_tie_survives_floating_point_noise():
    # 0.1 + 0.2 is not 0.3 in binary: a score computed one way must still tie a threshold written the other.
    decision = decide(scores(0.1 + 0.2, 0.3, "real_"), FOOTPRINT, GateThresholds(min_exact_match=0.3))
    assert decision.promote is True
    assert decision.gain_over_teacher == 0.0


def test_without_a_real_test_set_the_held_out_split_is_judged_and_the_decision_says_so():
    decision = decide(scores(90.0, 95.0), FOOTPRINT, GateThresholds(min_gain_over_teacher=-10))
    assert decision.test_set == "test"
    assert decision.promote is True
    assert decision.reasons == (
        HELD_OUT_NOTE,
        "pass: student minus teacher exact match on the held-out split (90.0 - 95.0) "
        "-5.0 points >= -10 points",
    )


def test_every_threshold_is_checked_and_each_failure_is_a_reason():
    thresholds = GateThresholds(min_exact_match=80, min_gain_over_teacher=5, max_latency_ms=40)
    decision = decide(scores(82.0, 80.0, "real_"), FOOTPRINT, thresholds)
    assert decision.promote is False
    assert decision.reasons == (
        "pass: student exact match on your test set 82.0 >= 80",
        "FAIL: student minus teacher exact match on your test set (82.0 - 80.0) 2.0 points < 5 points",
        "FAIL: student latency 42.5 ms an answer > 40 ms",
    )
    assert decision.numbers() == {
        "promote": 0.0,
        "student_exact_match": 82.0,
        "teacher_exact_match": 80.0,
        "gain_over_teacher": 2.0,
        "student_ms_per_answer": 42.5,
    }


def test_a_threshold_left_out_is_not_checked_and_null_turns_the_default_off():
    only_latency = GateThresholds.from_dict({"max_latency_ms": 100, "min_gain_over_teacher": None})
    # The pipeline parameter spells "off" what a fleet file or Python may spell null.
    assert GateThresholds.from_dict(only_latency.to_parameter()) == only_latency
    assert only_latency.to_parameter() == {
        "min_exact_match": "off",
        "min_gain_over_teacher": "off",
        "max_latency_ms": 100.0,
    }
    decision = decide(scores(10.0, 90.0, "real_"), FOOTPRINT, only_latency)
    assert decision.promote is True
    assert decision.reasons == ("pass: student latency 42.5 ms an answer <= 100 ms",)
    nothing = decide(scores(10.0, 90.0, "real_"), FOOTPRINT, GateThresholds(min_gain_over_teacher=None))
    assert (nothing.promote, nothing.reasons) == (True, ("no threshold set: promoted",))


def test_a_latency_threshold_without_a_measured_latency_holds_the_student_back():
    decision = decide(scores(90.0, 80.0, "real_"), {}, GateThresholds(max_latency_ms=100))
    assert decision.promote is False
    assert decision.reasons[-1] == (
        "FAIL: student latency was not measured, so max_latency_ms 100 cannot hold"
    )
    assert "student_ms_per_answer" not in decision.numbers()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_exact_macth": 80}, "gate: unknown threshold 'min_exact_macth'; valid: min_exact_match, "),
        (
            {"min_exact_match": "high"},
            "gate.min_exact_match must be a number, or null or 'off' to turn it off, not 'high'",
        ),
        (
            {"max_latency_ms": True},
            "gate.max_latency_ms must be a number, or null or 'off' to turn it off, not True",
        ),
        ({"max_latency_ms": float("nan")}, "gate.max_latency_ms must be a finite number"),
    ],
)
def test_bad_thresholds_are_one_line_errors(values, message):
    with pytest.raises(P2MError, match=message.replace("(", r"\(").replace(".", r"\.")):
        GateThresholds.from_dict(values)


def test_no_scores_is_a_clear_error():
    with pytest.raises(P2MError, match="the promotion gate needs the student's and the teacher's scores"):
        decide({}, FOOTPRINT, GateThresholds())


def test_the_gate_stage_writes_gate_json_that_reads_back(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(scores(60.0, 70.0, "real_") | scores(1.0, 2.0)))
    (tmp_path / "footprint.json").write_text(json.dumps(FOOTPRINT))
    decision = gate_stage(tmp_path, GateThresholds(min_exact_match=50))
    written = json.loads((tmp_path / "gate.json").read_text())
    assert written["promote"] is False
    assert written["thresholds"] == {
        "min_exact_match": 50.0,
        "min_gain_over_teacher": 0.0,
        "max_latency_ms": None,
    }
    assert GateDecision.from_dict(written) == decision
