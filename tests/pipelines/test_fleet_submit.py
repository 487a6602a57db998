"""`p2m submit --fleet` against a loopback fake of the KFP v2beta1 API (tests/kfp_server.py), with the
real `kfp.Client`: one run per task with its parameters, unchanged tasks skipped, recurring runs."""

import json
import re
import socket
from pathlib import Path

import pytest
from kfp_server import FakeKFP
from typer.testing import CliRunner

from p2m_lib.cli.main import app

pytestmark = pytest.mark.fleet
PROMPT = "Write the date as YYYY-MM-DD.\n\nInput: 3 May 2024\nOutput: 2024-05-03\n"


@pytest.fixture
def fleet_file(tmp_path):
    (tmp_path / "dates.txt").write_text(PROMPT)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dates-test.jsonl").write_text('{"input": "4 May 2024", "output": "2024-05-04"}\n')
    path = tmp_path / "fleet.yaml"
    path.write_text(
        """
experiment: team-a
cluster_data_dir: /p2m-work/fleet
defaults: {profile: quick, gate: {min_gain_over_teacher: 0}, deploy: {bucket: models}}
tasks:
  - name: dates
    prompt_file: dates.txt
    test_dataset: data/dates-test.jsonl
    gate: {min_exact_match: 80}
    deploy: {enabled: true, canary_percent: 20}
  - name: tickets
    prompt: "Route the ticket: billing, account or delivery."
    training: {lora: true}
"""
    )
    return path


@pytest.fixture
def kfp():
    with FakeKFP() as server:
        yield server


def submit(*arguments):
    return CliRunner().invoke(app, ["submit", *arguments])


EXPECTED_DATES = {
    "prompt": PROMPT,
    "profile": "quick",
    "num_examples": 0,
    "generation": {},
    "training": {},
    "seed": 42,
    "teacher": "auto",
    "teacher_base_url": "",
    "teacher_model": "",
    "student": "",
    "dataset_path": "",
    "input_col": "input",
    "output_col": "output",
    "test_dataset_path": "/p2m-work/fleet/data/dates-test.jsonl",
    "test_input_col": "input",
    "test_output_col": "output",
    "gate": {"min_exact_match": 80.0, "min_gain_over_teacher": 0.0, "max_latency_ms": "off"},
    "deploy": True,
    "namespace": "",
    "s3_bucket": "models",
    "s3_prefix": "p2m",
    "service_name": "dates",
    "min_replicas": 1,
    "max_replicas": 1,
    "serving_cpu": "1",
    "serving_memory": "2Gi",
    "serving_gpus": 0,
    "canary_percent": 20,
}


def test_dry_run_prints_each_tasks_run_as_json_and_sends_nothing(fleet_file, kfp):
    result = submit("--fleet", str(fleet_file), "--host", kfp.url, "--dry-run")
    assert result.exit_code == 0, result.output
    dates, tickets = (json.loads(line) for line in result.stdout.splitlines())
    assert set(dates) == {"name", "run_name", "parameters"}
    assert dates["name"] == "dates" and re.fullmatch(r"dates-[0-9a-f]{12}", dates["run_name"])
    assert dates["parameters"] == EXPECTED_DATES
    assert tickets["parameters"]["training"] == {"lora": True}
    assert tickets["parameters"]["deploy"] is False
    assert tickets["parameters"]["test_dataset_path"] == ""
    assert kfp.requests == []


def test_one_run_per_task_then_unchanged_tasks_are_skipped_unless_forced(fleet_file, kfp):
    first = submit("--fleet", str(fleet_file), "--host", kfp.url)
    assert first.exit_code == 0, first.output
    runs = kfp.created("runs")
    assert [run["display_name"] for run in runs] == [
        line.split("\t")[3] for line in first.stdout.splitlines()
    ]
    assert [line.split("\t")[:2] for line in first.stdout.splitlines()] == [
        ["dates", "created"],
        ["tickets", "created"],
    ]
    assert [e["display_name"] for e in kfp.created("experiments")] == ["team-a"]
    assert {run["experiment_id"] for run in runs} == {"experiments-1"}
    dates, tickets = runs
    assert dates["runtime_config"]["parameters"] == EXPECTED_DATES
    assert (
        tickets["runtime_config"]["parameters"]["prompt"] == "Route the ticket: billing, account or delivery."
    )
    # The pipeline spec travels with each run: the prompt2model pipeline, compiled once.
    assert dates["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "prompt2model"
    assert dates["pipeline_spec"] == tickets["pipeline_spec"]

    run_ids = {run["display_name"]: run["run_id"] for run in kfp.runs.values()}
    kfp.set_state(run_ids[dates["display_name"]], "SUCCEEDED")
    kfp.set_state(run_ids[tickets["display_name"]], "FAILED")
    again = submit("--fleet", str(fleet_file), "--host", kfp.url)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[0] == (
        f"dates\tskipped\t{run_ids[dates['display_name']]}\t{dates['display_name']}"
        f"  (unchanged: run {run_ids[dates['display_name']]} succeeded)"
    )
    # A failed run is no reason to skip: tickets runs again, under the same name (same inputs).
    assert [run["display_name"] for run in kfp.created("runs")] == [
        dates["display_name"],
        tickets["display_name"],
        tickets["display_name"],
    ]

    (fleet_file.parent / "dates.txt").write_text(PROMPT + "\nInput: 5 May 2024\nOutput: 2024-05-05\n")
    changed = submit("--fleet", str(fleet_file), "--host", kfp.url)
    assert changed.stdout.splitlines()[0].split("\t")[1] == "created"
    # tickets' rerun has not ended: a second run with the same inputs would only repeat it.
    assert changed.stdout.splitlines()[1].endswith("is pending)")
    new_dates = kfp.created("runs")[-1]
    assert new_dates["display_name"] != dates["display_name"]
    assert new_dates["display_name"].startswith("dates-")
    assert new_dates["runtime_config"]["parameters"]["prompt"].endswith("Output: 2024-05-05\n")

    forced = submit("--fleet", str(fleet_file), "--host", kfp.url, "--force")
    assert [line.split("\t")[1] for line in forced.stdout.splitlines()] == ["created", "created"]


def test_a_schedule_makes_recurring_runs_once(fleet_file, kfp):
    scheduled = submit("--fleet", str(fleet_file), "--host", kfp.url, "--schedule", "0 3 * * 1")
    assert scheduled.exit_code == 0, scheduled.output
    recurring = kfp.created("recurringruns")
    assert [run["trigger"]["cron_schedule"]["cron"] for run in recurring] == ["0 0 3 * * 1", "0 0 3 * * 1"]
    assert [run["mode"] for run in recurring] == ["ENABLE", "ENABLE"]
    assert recurring[0]["runtime_config"]["parameters"] == EXPECTED_DATES
    assert kfp.created("runs") == []

    again = submit("--fleet", str(fleet_file), "--host", kfp.url, "--schedule", "0 3 * * 1")
    assert [line.split("\t")[1] for line in again.stdout.splitlines()] == ["skipped", "skipped"]
    assert "already retrains it" in again.stdout
    assert len(kfp.created("recurringruns")) == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--schedule", "daily"], "--schedule 'daily' is no cron expression"),
        (["-P", "seed=1"], "--fleet takes every task's parameters from the fleet file"),
    ],
)
def test_fleet_mistakes_are_one_line_errors_before_anything_is_sent(fleet_file, kfp, arguments, message):
    result = submit("--fleet", str(fleet_file), "--host", kfp.url, *arguments)
    assert result.exit_code == 2
    assert message in result.output
    assert kfp.requests == []


def test_a_task_with_local_data_and_no_cluster_data_dir_is_refused(fleet_file, kfp):
    fleet_file.write_text(fleet_file.read_text().replace("cluster_data_dir: /p2m-work/fleet\n", ""))
    result = submit("--fleet", str(fleet_file), "--host", kfp.url)
    assert result.exit_code == 2
    assert "data/dates-test.jsonl is a local file: set cluster_data_dir" in " ".join(result.output.split())
    assert kfp.requests == []


def test_an_unreachable_host_is_a_one_line_error(fleet_file):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = submit("--fleet", str(fleet_file), "--host", f"http://127.0.0.1:{port}", "--timeout", "2")
    assert result.exit_code == 2
    assert f"cannot reach the KFP API at http://127.0.0.1:{port}" in result.output


def test_the_example_fleet_plans_a_run_per_example_task():
    example = Path(__file__).resolve().parents[2] / "examples" / "fleet.yaml"
    result = submit("--fleet", str(example), "--dry-run")
    assert result.exit_code == 0, result.output
    planned = [json.loads(line) for line in result.stdout.splitlines()]
    assert [run["name"] for run in planned] == ["dates", "tickets"]
    assert planned[0]["parameters"]["test_dataset_path"] == "/p2m-work/fleet/date_normalization/test.jsonl"
