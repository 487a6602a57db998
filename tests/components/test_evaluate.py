"""The evaluate component through KFP's local runner, with a real test file."""

import json

import pytest

from components.evaluate import evaluate


@pytest.mark.slow
def test_evaluate_scores_student_and_teacher(run_component, stage_outputs, labelled_file, echo_teacher):
    ran = run_component(
        evaluate,
        artifacts={
            "task": stage_outputs / "task.json",
            "model": stage_outputs / "model",
            "data": stage_outputs / "data",
        },
        test_dataset_path=str(labelled_file),
        test_input_col="text",
        test_output_col="label",
        teacher_base_url=echo_teacher.base_url,
        teacher_model="echo",
        gate={"min_exact_match": 101},
        eval_rows=4,
    )
    metrics = json.loads((ran.folder / "evaluation" / "metrics.json").read_text())
    assert set(metrics) == {
        "metrics",
        "baseline_metrics",
        "difference",
        "real_metrics",
        "real_baseline_metrics",
        "real_difference",
    }
    # eval_rows: 4 of the file's 10 rows are scored, and the paired difference is over them.
    assert ran.metadata["metrics"]["real_metrics.count"] == 4
    assert ran.metadata["metrics"]["real_difference.rows"] == 4
    real = metrics["real_difference"]
    assert (
        real["difference"]
        == metrics["real_metrics"]["exact_match"] - metrics["real_baseline_metrics"]["exact_match"]
    )
    assert (ran.folder / "evaluation" / "predictions.jsonl").stat().st_size > 0
    # No student reaches 101: the gate holds it back, says why, and logs its numbers.
    gate = json.loads((ran.folder / "evaluation" / "gate.json").read_text())
    assert ran.parameters["promote"] is False and gate["promote"] is False
    assert gate["test_set"] == "real_test"
    assert gate["reasons"][0].startswith("FAIL: student exact match on your test set")
    assert ran.metadata["metrics"]["gate.promote"] == 0.0
    assert isinstance(ran.parameters["seconds"], float)
