"""Canary by default, `p2m promote`, `p2m rollback` and the lineage annotations, against moto's S3 server
and the real Kubernetes API server with KServe's CRDs.

The test plays KServe's controller: a new revision whenever the model's storage URI changes, and
the traffic split KServe computes from `canaryTrafficPercent` and the last revision that took all
traffic (tests/serve/kserve_controller.py writes it through the status subresource).
"""

import hashlib
import json
import shutil

import pytest
from serve.kserve_controller import kserve_controller, ready_status
from typer.testing import CliRunner

from p2m_lib.cli.main import app
from p2m_lib.evaluate.gate import GateThresholds, decide

pytestmark = [pytest.mark.kube, pytest.mark.fleet]
PROMPT = "Write the date as YYYY-MM-DD.\n\nInput: 3 May 2024\nOutput: 2024-05-03\n"
TIMEOUT = "30"


class Revisions:
    """KServe's traffic split: a new revision per model; the canary's share until it is promoted."""

    def __init__(self):
        self.count = 0
        self.uri = None
        self.rolled_out = None

    def __call__(self, service):
        name, predictor = service["metadata"]["name"], service["spec"]["predictor"]
        if predictor["model"]["storageUri"] != self.uri:
            self.uri, self.count = predictor["model"]["storageUri"], self.count + 1
        latest = f"{name}-predictor-{self.count:05d}"
        canary = predictor.get("canaryTrafficPercent")
        if self.rolled_out in (None, latest) or canary is None or canary == 100:
            self.rolled_out = latest
            traffic = [{"revisionName": latest, "percent": 100, "latestRevision": True}]
        else:
            traffic = [
                {"revisionName": latest, "percent": canary, "latestRevision": True},
                {"revisionName": self.rolled_out, "percent": 100 - canary, "latestRevision": False},
            ]
        status = ready_status(service)
        status["components"]["predictor"] = {"latestReadyRevision": latest, "traffic": traffic}
        return status


def run_folder(tmp_path, model_dir, name, train_rows):
    """A finished `p2m run` folder around `model_dir`: what the lineage is read from."""
    folder = tmp_path / name
    shutil.copytree(model_dir, folder / "model")
    (folder / "data").mkdir()
    (folder / "data" / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in train_rows))
    (folder / "task.json").write_text(json.dumps({"instruction": "Write the date.", "prompt": PROMPT}))
    metrics = {
        "real_metrics": {"exact_match": 90.0},
        "real_baseline_metrics": {"exact_match": 85.0},
    }
    gate = decide(metrics, {"student": {"ms_per_answer": 12.5}}, GateThresholds(min_exact_match=80))
    summary = {"model": {"path": "model"}, "teacher": {"name": "qwen-coder-1.5b"}, "gate": gate.to_dict()}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def p2m(cluster, *arguments):
    return CliRunner().invoke(
        app, [*arguments, "--kubeconfig", str(cluster.kubeconfig), "--timeout", TIMEOUT]
    )


def traffic(cluster, name="dates"):
    split = cluster.get("inferenceservices", name)["status"]["components"]["predictor"]["traffic"]
    return [(entry["revisionName"], entry["percent"]) for entry in split]


def test_a_new_model_is_a_canary_until_promoted_and_rollback_restores_the_previous_one(
    served_model_dir, retrained_model_dir, s3, cluster, tmp_path
):
    first = run_folder(tmp_path, served_model_dir, "first", [{"input": "a", "output": "b"}])
    second = run_folder(tmp_path, retrained_model_dir, "second", [{"input": "c", "output": "d"}])
    third = run_folder(tmp_path, served_model_dir, "third", [{"input": "e", "output": "f"}])
    deploy = ["deploy", "--name", "dates", "--bucket", "models"]
    with kserve_controller(cluster.server, cluster.namespace, Revisions()):
        created = p2m(cluster, *deploy, str(first))
        assert created.exit_code == 0, created.output
        assert traffic(cluster) == [("dates-predictor-00001", 100)]

        canary = p2m(cluster, *deploy, str(second))
        assert canary.exit_code == 0, canary.output
        service = cluster.get("inferenceservices", "dates")
        assert service["spec"]["predictor"]["canaryTrafficPercent"] == 10
        assert traffic(cluster) == [("dates-predictor-00002", 10), ("dates-predictor-00001", 90)]

        promoted = p2m(cluster, "promote", "dates")
        assert promoted.exit_code == 0, promoted.output
        assert " ".join(promoted.output.split()) == (
            f"promoted {cluster.namespace}/dates: dates-predictor-00002 now takes all traffic (was 10%); "
            "traffic: dates-predictor-00002 100%"
        )
        assert "canaryTrafficPercent" not in cluster.get("inferenceservices", "dates")["spec"]["predictor"]

        again = p2m(cluster, "promote", "dates")
        assert again.exit_code == 2
        assert (
            f"no canary in progress on {cluster.namespace}/dates: its traffic goes dates-predictor-00002 100%"
            in (" ".join(again.output.split()))
        )

        p2m(cluster, *deploy, str(third))
        assert traffic(cluster) == [("dates-predictor-00003", 10), ("dates-predictor-00002", 90)]
        rolled_back = p2m(cluster, "rollback", "dates")
        assert rolled_back.exit_code == 0, rolled_back.output
        assert " ".join(rolled_back.output.split()) == (
            f"rolled back {cluster.namespace}/dates: dates-predictor-00002 takes all traffic again, "
            "dates-predictor-00003 none; traffic: dates-predictor-00003 0%, dates-predictor-00002 100%"
        )
        assert cluster.get("inferenceservices", "dates")["spec"]["predictor"]["canaryTrafficPercent"] == 0
        assert p2m(cluster, "rollback", "dates").exit_code == 2

    unknown = p2m(cluster, "rollback", "nope")
    assert unknown.exit_code == 2
    assert f"no InferenceService nope in namespace {cluster.namespace}" in unknown.output
    assert "Traceback" not in unknown.output


def test_the_service_and_the_uploaded_card_carry_the_lineage(served_model_dir, s3, cluster, tmp_path):
    rows = [{"input": "3 May 2024", "output": "2024-05-03"}]
    folder = run_folder(tmp_path, served_model_dir, "run", rows)
    with kserve_controller(cluster.server, cluster.namespace, Revisions()):
        result = p2m(cluster, "deploy", "--name", "dates", "--bucket", "models", str(folder))
    assert result.exit_code == 0, result.output

    annotations = cluster.get("inferenceservices", "dates")["metadata"]["annotations"]
    train_sha = hashlib.sha256((folder / "data" / "train.jsonl").read_bytes()).hexdigest()
    assert annotations == {
        "p2m.dev/version": "0.1.0",
        "p2m.dev/run-id": str(folder.resolve()),
        "p2m.dev/prompt-sha256": hashlib.sha256(PROMPT.encode()).hexdigest(),
        "p2m.dev/training-data-sha256": train_sha,
        "p2m.dev/teacher": "qwen-coder-1.5b",
        "p2m.dev/gate": (
            '{"gain_over_teacher":5.0,"promote":1.0,"student_exact_match":90.0,'
            '"student_ms_per_answer":12.5,"teacher_exact_match":85.0,"test_set":"real_test"}'
        ),
    }
    storage = cluster.get("inferenceservices", "dates")["spec"]["predictor"]["model"]["storageUri"]
    key = storage.removeprefix("s3://models/") + "/README.md"
    card = s3.get_object("models", key).read().decode()
    assert card.endswith(
        "## Lineage\n\n"
        "- p2m version: 0.1.0\n"
        f"- Run: `{folder.resolve()}`\n"
        f"- Prompt sha256: `{hashlib.sha256(PROMPT.encode()).hexdigest()}`\n"
        f"- Training data sha256: `{train_sha}`\n"
        "- Teacher: `qwen-coder-1.5b`\n"
        "- Promotion gate (real_test): promote; promote 1, student_exact_match 90, teacher_exact_match 85, "
        "gain_over_teacher 5, student_ms_per_answer 12.5\n"
    )
    # The run folder's model is left as training wrote it: the tiny model has no card of its own.
    assert not (folder / "model" / "README.md").exists()
