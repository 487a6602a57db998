"""`p2m status`: every task's latest run (the loopback KFP API fake), its scores and gate decision (the
service's lineage), and its endpoint (the real Kubernetes API server with KServe's CRDs)."""

import json

import pytest
from kfp_server import FakeKFP
from kube_server import create
from serve.kserve_controller import ready_status, write_status
from typer.testing import CliRunner

from p2m_lib.cli.main import app
from p2m_lib.serve.lineage import Lineage
from p2m_lib.serve.manifests import ServiceSpec, render_inference_service

pytestmark = [pytest.mark.kube, pytest.mark.fleet]
LINEAGE = Lineage(
    p2m_version="0.1.0",
    run_id="run-7",
    prompt_sha256="a" * 64,
    training_data_sha256="b" * 64,
    teacher="qwen-coder-1.5b",
    gate={"promote": 1.0, "student_exact_match": 92.5, "teacher_exact_match": 90.0, "test_set": "real_test"},
)


@pytest.fixture
def deployed(kube_api, kube_namespace):
    """The dates service with its lineage, a canary of its second model taking 20 % of the traffic."""
    spec = ServiceSpec(
        name="dates",
        namespace=kube_namespace,
        storage_uri="s3://models/p2m/dates/2",
        image="p2m-serving:test",
        canary_traffic_percent=20,
        annotations=LINEAGE.annotations(),
    )
    service = create(kube_api, render_inference_service(spec), kube_namespace)
    status = ready_status(service)
    status["components"]["predictor"]["traffic"] = [
        {"revisionName": "dates-predictor-00002", "percent": 20, "latestRevision": True},
        {"revisionName": "dates-predictor-00001", "percent": 80, "latestRevision": False},
    ]
    write_status(kube_api, kube_namespace, "dates", status)
    return kube_namespace


@pytest.fixture
def fleet_file(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(
        """
experiment: team-a
tasks:
  - {name: dates, prompt: "Write the date as YYYY-MM-DD.", deploy: {enabled: true, bucket: models}}
  - {name: tickets, prompt: "Route the ticket."}
"""
    )
    return path


def test_status_shows_each_tasks_run_scores_gate_and_endpoint(
    kube_api, deployed, fleet_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")  # a terminal wide enough for the table
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", deployed)
    with FakeKFP() as kfp:
        submitted = CliRunner().invoke(app, ["submit", "--fleet", str(fleet_file), "--host", kfp.url])
        assert submitted.exit_code == 0, submitted.output
        dates_run = next(run for run in kfp.runs.values() if run["display_name"].startswith("dates-"))
        kfp.set_state(dates_run["run_id"], "SUCCEEDED")
        options = ["--fleet", str(fleet_file), "--host", kfp.url, "--kubeconfig", str(kubeconfig)]
        as_json = CliRunner().invoke(app, ["status", *options, "--json"])
        table = CliRunner().invoke(app, ["status", *options])

    assert as_json.exit_code == 0, as_json.output
    dates, tickets = json.loads(as_json.stdout)
    assert dates == {
        "task": "dates",
        "run": {
            "run_id": dates_run["run_id"],
            "run_name": dates_run["display_name"],
            "state": "SUCCEEDED",
            "created_at": dates_run["created_at"].replace("T", " ").replace("Z", "+00:00"),
        },
        "student_exact_match": 92.5,
        "teacher_exact_match": 90.0,
        "promote": True,
        "scores_from": "service",
        "endpoint": {
            "service": "dates",
            "namespace": deployed,
            "ready": True,
            "url": f"http://dates.{deployed}.example.com",
            "traffic": [
                {"revision": "dates-predictor-00002", "percent": 20, "latest": True},
                {"revision": "dates-predictor-00001", "percent": 80, "latest": False},
            ],
        },
    }
    assert tickets["run"]["state"] == "PENDING"
    assert (tickets["promote"], tickets["endpoint"]) == (None, None)

    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if "│ dates" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")][2:] == [
        "SUCCEEDED",
        "92.5",
        "90.0",
        "promote",
        "Ready",
        f"http://dates.{deployed}.example.com",
        "dates-predictor-00002 20%, dates-predictor-00001 80%",
    ]


def test_without_a_fleet_file_status_lists_p2ms_services(kube_api, deployed, tmp_path):
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", deployed)
    result = CliRunner().invoke(app, ["status", "--kubeconfig", str(kubeconfig), "--json"])
    assert result.exit_code == 0, result.output
    (dates,) = json.loads(result.stdout)
    assert (dates["task"], dates["run"], dates["promote"]) == ("dates", None, True)
    assert dates["endpoint"]["traffic"][0] == {
        "revision": "dates-predictor-00002",
        "percent": 20,
        "latest": True,
    }
