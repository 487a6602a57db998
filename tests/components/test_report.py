"""The report component through KFP's local runner: summary.json and the HTML the UI renders."""

import json

from components.report import report


def test_report_gathers_every_stage_and_the_timings(run_component, stage_outputs):
    ran = run_component(
        report,
        artifacts={
            "task": stage_outputs / "task.json",
            "generated": stage_outputs / "generated",
            "data": stage_outputs / "data",
            "model": stage_outputs / "model",
            "evaluation": stage_outputs / "evaluation",
        },
        parse_seconds=0.1,
        labelled_seconds=0.2,
        generate_seconds=2.0,
        process_seconds=0.3,
        train_seconds=4.0,
        evaluate_seconds=1.5,
        run_info={"runner": "kfp-local", "model_path": "model"},
    )
    summary = json.loads((ran.folder / "summary").read_text())
    assert summary["runner"] == "kfp-local"
    assert summary["model"]["path"] == "model"
    assert summary["timings"] == {
        "parse": 0.1,
        "labelled": 0.2,
        "generate": 2.0,
        "process": 0.3,
        "train": 4.0,
        "evaluate": 1.5,
    }
    assert "Write the word in capital letters." in (ran.folder / "html").read_text()


def test_on_a_cluster_the_runner_is_kfp_and_the_model_path_its_uri(run_component, stage_outputs):
    ran = run_component(
        report,
        artifacts={
            "task": stage_outputs / "task.json",
            "generated": stage_outputs / "generated",
            "data": stage_outputs / "data",
            "model": stage_outputs / "model",
            "evaluation": stage_outputs / "evaluation",
        },
        parse_seconds=0.0,
        labelled_seconds=0.0,
        generate_seconds=0.0,
        process_seconds=0.0,
        train_seconds=0.0,
        evaluate_seconds=0.0,
    )
    summary = json.loads((ran.folder / "summary").read_text())
    assert summary["runner"] == "kfp"
    assert summary["model"]["path"] == str(stage_outputs / "model")
