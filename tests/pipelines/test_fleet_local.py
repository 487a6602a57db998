"""`p2m run --fleet` on KFP's local runner with tiny models: each task into its own folder, a failed task
reported while the others finish, the gate's decision in each summary; then `p2m status` on them."""

import json
import re

import pytest
from typer.testing import CliRunner

from p2m_lib.cli.main import app

pytestmark = pytest.mark.fleet
PROMPT = "Write the word in capital letters.\n\nInput: apple\nOutput: APPLE\n\nInput: river\nOutput: RIVER\n"


def write_fleet(tmp_path, student_dir, tasks):
    (tmp_path / "prompt.txt").write_text(PROMPT)
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps({"text": w, "label": w.upper()}) + "\n" for w in ["sun", "moon", "star"])
    )
    (tmp_path / "test.csv").write_text("text,label\ncloud,CLOUD\nrain,RAIN\n")
    defaults = {
        "student": str(student_dir),
        "num_examples": 12,
        "training": {"max_steps": 2, "batch_size": 4},
        "dataset": "train.jsonl",
        "input_col": "text",
        "output_col": "label",
        "test_dataset": "test.csv",
        "test_input_col": "text",
        "test_output_col": "label",
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(json.dumps({"defaults": defaults, "tasks": tasks}))  # JSON is YAML
    return path


@pytest.mark.slow
def test_every_task_runs_into_its_folder_and_a_failed_one_is_reported(
    tmp_path, tiny_causal_lm_dir, teacher_env
):
    fleet = write_fleet(
        tmp_path,
        tiny_causal_lm_dir,
        [
            {"name": "upper", "prompt_file": "prompt.txt", "gate": {"min_gain_over_teacher": -100}},
            {"name": "broken", "prompt_file": "prompt.txt", "test_input_col": "question"},
            {"name": "strict", "prompt": PROMPT, "gate": {"min_exact_match": 101}},
        ],
    )
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", "--fleet", str(fleet), "--out", str(out)])

    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "task upper: finished" in output
    assert "task broken: failed: " in output and "question" in output
    assert "task strict: finished" in output
    assert "1 of 3 tasks failed: broken" in output
    assert re.search(r"│ upper\s+│ success │[^\n]*│ promote\s+│", result.output), result.output
    assert re.search(r"│ strict\s+│ success │[^\n]*│ held back │", result.output), result.output
    assert re.search(r"│ broken\s+│ failed\s+│ —\s+│ —\s+│ —\s+│", result.output), result.output

    upper = json.loads((out / "upper" / "summary.json").read_text())
    strict = json.loads((out / "strict" / "summary.json").read_text())
    assert upper["out_dir"] == str((out / "upper").resolve())
    assert (upper["gate"]["promote"], upper["gate"]["test_set"]) == (True, "real_test")
    assert strict["gate"]["promote"] is False
    assert strict["gate"]["reasons"][0].startswith("FAIL: student exact match on your test set")
    assert (out / "strict" / "prompt.txt").read_text() == PROMPT  # the inline prompt, written for the run
    assert "Promotion gate" in (out / "strict" / "report.html").read_text()
    assert not (out / "broken" / "summary.json").exists()

    status = CliRunner().invoke(app, ["status", "--runs", str(out), "--no-kube", "--json"])
    assert status.exit_code == 0, status.output
    rows = {row["task"]: row for row in json.loads(status.stdout)}
    assert set(rows) == {"upper", "strict"}
    assert rows["strict"] == {
        "task": "strict",
        "run": None,
        "student_exact_match": strict["gate"]["student_exact_match"],
        "teacher_exact_match": 100.0,
        "promote": False,
        "scores_from": "run folder",
        "endpoint": None,
    }


def test_parallel_tasks_run_in_worker_processes_and_every_failure_is_reported(tmp_path, tiny_causal_lm_dir):
    fleet = write_fleet(
        tmp_path,
        tiny_causal_lm_dir,
        [
            {"name": "one", "prompt_file": "prompt.txt", "input_col": "question"},
            {"name": "two", "prompt": PROMPT, "test_output_col": "answer"},
        ],
    )
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", "--fleet", str(fleet), "--out", str(out), "--parallel", "2"])
    assert result.exit_code == 1, result.output
    assert "2 of 2 tasks failed: one, two" in " ".join(result.output.split())
    assert "question" in result.output and "answer" in result.output
    # Each worker's own output went to its task's log.
    assert (out / "one" / "fleet.log").exists() and (out / "two" / "fleet.log").exists()


def test_prompt_file_and_fleet_exclude_each_other(tmp_path):
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2
    assert "give --prompt-file (one task) or --fleet (a fleet file's tasks)" in result.output
