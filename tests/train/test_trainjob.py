"""TrainJobs on the real API server with Kubeflow Trainer's CRDs: what p2m creates for 1, 2 and 4 nodes,
as the pipeline's account of manifests/rbac.yaml; how it waits (success, failure with the TrainJob's
reason, timeout) on a status the test writes as Trainer's controller would; and a whole run whose
command the test executes on this machine as the TrainJob's pod would."""

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from kube_server import create, dropped_fields, service_account_token
from train.trainer_controller import COMPLETE, CREATED, condition, read, running_trainer, write_status

from p2m_lib.config import TrainConfig
from p2m_lib.errors import P2MError
from p2m_lib.kube import api_client
from p2m_lib.stages import TRAIN_RESULT_FILE, trainjob_stage
from p2m_lib.train.trainjob import (
    TrainJobSettings,
    run_trainjob,
    stage_request,
    start_trainjob,
    trainjob_manifest,
    trainjob_name,
    wait_for_trainjob,
)
from p2m_lib.types import TaskSpec

pytestmark = [pytest.mark.distributed, pytest.mark.kube]

RBAC = Path(__file__).resolve().parents[2] / "manifests" / "rbac.yaml"
PIPELINE_ACCOUNT = "pipeline-runner"
IMAGE = "registry.example.com/p2m/p2m-trainer:0.1.0"
GPU_POOL = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
GPU_TAINT = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
CONFIG = TrainConfig(batch_size=32)


@pytest.fixture
def pipeline_account(kube_api, kube_namespace, tmp_path):
    """manifests/rbac.yaml applied to the namespace; a client with the pipeline account's token."""
    for document in yaml.safe_load_all(RBAC.read_text()):
        create(kube_api, document, kube_namespace)
    token = service_account_token(kube_api, kube_namespace, PIPELINE_ACCOUNT)
    return api_client(kube_api.write_kubeconfig(tmp_path / "pipeline-kubeconfig", kube_namespace, token))


def _settings(namespace, volume_root, nodes=2, gpus_per_node=4, **changes):
    settings = TrainJobSettings(
        name=trainjob_name("0f3c9a2e-7d41-4b8e-9c55-2a6b1f0e8d73"),
        namespace=namespace,
        image=IMAGE,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        work_volume="p2m-work",
        work_mount=volume_root,
        work_dir=volume_root / "dates",
        node_selector=GPU_POOL,
        tolerations=GPU_TAINT,
    )
    return replace(settings, **changes)


def _inputs(folder):
    (folder / "data").mkdir(parents=True)
    (folder / "task.json").write_text(json.dumps(TaskSpec("Repeat the word.").to_dict()))
    rows = [{"input": f"word {i}", "output": f"w{i}"} for i in range(20)]
    (folder / "data" / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[:16]))
    (folder / "data" / "val.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows[16:]))
    return folder


def _staged(settings, tmp_path, student="smollm2-135m", config=CONFIG):
    inputs = _inputs(tmp_path / "artifacts")
    return stage_request(inputs / "task.json", inputs / "data", student, config, settings)


@pytest.mark.parametrize(("nodes", "gpus_per_node"), [(1, 2), (2, 4), (4, 8)])
def test_the_trainjob_for_1_2_and_4_nodes_is_created_whole_by_the_pipeline_account(
    nodes, gpus_per_node, pipeline_account, kube_api, kube_namespace, tmp_path
):
    settings = _settings(kube_namespace, tmp_path, nodes, gpus_per_node)
    request = _staged(settings, tmp_path)
    manifest = trainjob_manifest(settings, request)

    assert start_trainjob(pipeline_account, manifest) == "created"

    stored = read(kube_api, kube_namespace, settings.name)
    assert dropped_fields(manifest, stored) == []  # the CRD's schema kept every field
    spec = stored["spec"]
    assert spec["runtimeRef"] == {
        "name": "torch-distributed",
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
    }
    trainer = spec["trainer"]
    assert (trainer["image"], trainer["numNodes"], trainer["numProcPerNode"]) == (IMAGE, nodes, gpus_per_node)
    assert trainer["resourcesPerNode"]["limits"] == {"nvidia.com/gpu": str(gpus_per_node)}
    assert trainer["command"] == ["torchrun", *request.worker_command()]
    command = trainer["command"]
    assert command[command.index("--model") + 1] == str(tmp_path / "dates" / "trainjob" / "model")
    assert command[command.index("--checkpoints") + 1] == str(tmp_path / "dates" / "checkpoints")
    assert json.loads(command[command.index("--training") + 1])["batch_size"] == 32
    ((patch,),) = [
        p["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"] for p in spec["runtimePatches"]
    ]
    assert patch["name"] == "node"
    pod = patch["template"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == GPU_POOL
    assert pod["tolerations"] == GPU_TAINT
    assert pod["volumes"] == [{"name": "p2m-work", "persistentVolumeClaim": {"claimName": "p2m-work"}}]
    mount = {"name": "p2m-work", "mountPath": str(tmp_path)}
    assert pod["containers"] == [{"name": "node", "volumeMounts": [mount]}]


def test_a_cpu_trainjob_runs_one_process_per_node_and_asks_for_no_gpu(kube_namespace, tmp_path):
    settings = _settings(kube_namespace, tmp_path, nodes=2, gpus_per_node=0)

    trainer = trainjob_manifest(settings, _staged(settings, tmp_path))["spec"]["trainer"]

    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 1)
    assert "resourcesPerNode" not in trainer


def test_the_inputs_go_onto_the_work_volume(kube_namespace, tmp_path):
    settings = _settings(kube_namespace, tmp_path / "volume")

    request = _staged(settings, tmp_path)

    folder = tmp_path / "volume" / "dates" / "trainjob"
    assert request.task_path == folder / "task.json" and request.task_path.is_file()
    assert sorted(path.name for path in request.data_dir.iterdir()) == ["train.jsonl", "val.jsonl"]
    assert request.data_dir == folder / "data"


def test_waiting_logs_each_new_condition_and_the_progress_and_returns_when_complete(
    pipeline_account, kube_api, kube_namespace, tmp_path, caplog
):
    settings = _settings(kube_namespace, tmp_path)
    start_trainjob(pipeline_account, trainjob_manifest(settings, _staged(settings, tmp_path)))
    progress = {
        "progressPercentage": 100,
        "estimatedRemainingSeconds": 0,
        "lastUpdatedTime": "2026-11-30T12:00:00Z",
    }
    write_status(
        kube_api,
        kube_namespace,
        settings.name,
        {"conditions": [CREATED, COMPLETE], "trainerStatus": progress},
    )

    with caplog.at_level(logging.INFO, logger="p2m_lib.train.trainjob"):
        wait_for_trainjob(pipeline_account, settings.name, kube_namespace, timeout_s=30, poll_s=0.1)

    where = f"TrainJob {kube_namespace}/{settings.name}"
    assert caplog.messages == [
        f"{where}: Created=True (JobsCreationSucceeded: succeeded to create Jobs)",
        f"{where}: Complete=True (JobsCompleted: jobset completed successfully)",
        f"{where}: 100% trained, about 0 s left",
    ]


def test_a_failed_trainjob_fails_the_step_with_its_own_reason(
    pipeline_account, kube_api, kube_namespace, tmp_path
):
    settings = _settings(kube_namespace, tmp_path)
    start_trainjob(pipeline_account, trainjob_manifest(settings, _staged(settings, tmp_path)))
    failed = condition("Failed", "FailedJobs", "jobset failed due to reaching max restarts")
    write_status(kube_api, kube_namespace, settings.name, {"conditions": [CREATED, failed]})

    with pytest.raises(P2MError) as raised:
        wait_for_trainjob(pipeline_account, settings.name, kube_namespace, timeout_s=30, poll_s=0.1)

    assert str(raised.value) == (
        f"TrainJob {kube_namespace}/{settings.name} failed: FailedJobs: jobset failed due to reaching max "
        f"restarts (kubectl describe trainjob {settings.name} -n {kube_namespace})"
    )


def test_a_trainjob_not_done_in_time_is_deleted_and_the_error_says_so(
    pipeline_account, kube_api, kube_namespace, tmp_path
):
    settings = _settings(kube_namespace, tmp_path)
    start_trainjob(pipeline_account, trainjob_manifest(settings, _staged(settings, tmp_path)))
    write_status(kube_api, kube_namespace, settings.name, {"conditions": [CREATED]})

    with pytest.raises(P2MError) as raised:
        wait_for_trainjob(pipeline_account, settings.name, kube_namespace, timeout_s=0.3, poll_s=0.1)

    assert str(raised.value) == (
        f"TrainJob {kube_namespace}/{settings.name} did not finish within 0.3 s (last conditions: Created); "
        "it was deleted to free its nodes, and a rerun resumes from its last checkpoint"
    )
    assert read(kube_api, kube_namespace, settings.name) is None


def test_a_retried_step_waits_for_its_running_trainjob_and_replaces_a_failed_one(
    pipeline_account, kube_api, kube_namespace, tmp_path
):
    settings = _settings(kube_namespace, tmp_path)
    manifest = trainjob_manifest(settings, _staged(settings, tmp_path))
    start_trainjob(pipeline_account, manifest)
    first = read(kube_api, kube_namespace, settings.name)["metadata"]["uid"]
    write_status(kube_api, kube_namespace, settings.name, {"conditions": [CREATED]})

    assert start_trainjob(pipeline_account, manifest) == "attached"
    assert read(kube_api, kube_namespace, settings.name)["metadata"]["uid"] == first
    failed = condition("Failed", "FailedJobs", "jobset failed due to reaching max restarts")
    write_status(kube_api, kube_namespace, settings.name, {"conditions": [CREATED, failed]})

    assert start_trainjob(pipeline_account, manifest) == "replaced"
    replacement = read(kube_api, kube_namespace, settings.name)
    assert replacement["metadata"]["uid"] != first
    assert "status" not in replacement or not replacement["status"].get("conditions")


@pytest.mark.parametrize("verb", ["get", "create", "delete"])
def test_a_role_without_a_verb_the_trainjob_needs_is_named_in_the_error(
    verb, kube_api, kube_namespace, tmp_path
):
    for document in yaml.safe_load_all(RBAC.read_text()):
        if document["kind"] == "Role" and document["metadata"]["name"] == "p2m-trainer":
            (rule,) = document["rules"]
            rule["verbs"].remove(verb)
        create(kube_api, document, kube_namespace)
    token = service_account_token(kube_api, kube_namespace, PIPELINE_ACCOUNT)
    api = api_client(kube_api.write_kubeconfig(tmp_path / "kubeconfig", kube_namespace, token))
    settings = _settings(kube_namespace, tmp_path)
    manifest = trainjob_manifest(settings, _staged(settings, tmp_path))
    if verb == "delete":  # asked only of a TrainJob that failed
        start_trainjob(api, manifest)
        failed = condition("Failed", "FailedJobs", "jobset failed")
        write_status(kube_api, kube_namespace, settings.name, {"conditions": [failed]})

    with pytest.raises(P2MError) as raised:
        start_trainjob(api, manifest)

    message = str(raised.value)
    assert message.startswith(
        f"permission denied: cannot {verb} trainjobs.trainer.kubeflow.org in namespace {kube_namespace} ("
    )
    assert message.endswith(
        "the account needs get, create and delete on trainjobs.trainer.kubeflow.org there "
        "(manifests/rbac.yaml grants them)"
    )


def test_a_cluster_without_kubeflow_trainer_is_named_as_such(kube_api_without_kserve, tmp_path):
    api = api_client(kube_api_without_kserve.write_kubeconfig(tmp_path / "kubeconfig", "default"))
    settings = _settings("default", tmp_path)

    with pytest.raises(P2MError) as raised:
        run_trainjob(api, settings, _staged(settings, tmp_path), timeout_s=1)

    assert str(raised.value) == (
        "Kubeflow Trainer is not installed in this cluster: the API server does not serve "
        "trainjobs.trainer.kubeflow.org/v1alpha1 (kubectl get crd trainjobs.trainer.kubeflow.org)"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"work_volume": ""}, "compile with --work-volume and set work_dir under"),
        ({"work_dir": Path("/elsewhere")}, "compile with --work-volume and set work_dir under"),
        ({"nodes": 0}, "train_nodes must be 1 or more and gpus_per_node 0 or more, not 0 and 4"),
        ({"name": "P2M_train"}, "'P2M_train' cannot name a TrainJob"),
        ({"nodes": 3}, "a batch of 32 rows cannot be split evenly over 12 processes"),
    ],
)
def test_settings_a_trainjob_cannot_run_are_refused_before_anything_is_created(changes, message, tmp_path):
    settings = replace(_settings("team-a", tmp_path), **changes)

    with pytest.raises(P2MError, match=message):
        settings.check(CONFIG)


def test_a_run_of_two_processes_trains_through_its_trainjob_and_the_model_comes_back(
    pipeline_account, kube_api, kube_namespace, tiny_causal_lm_dir, tmp_path
):
    """The test plays the controller and the pod: it runs the TrainJob's own command on this machine."""
    settings = _settings(kube_namespace, tmp_path / "volume", nodes=1, gpus_per_node=2)
    inputs = _inputs(tmp_path / "artifacts")
    config = TrainConfig(
        epochs=1, learning_rate=1e-3, batch_size=4, max_length=64, seed=3, freeze_embeddings=False
    )
    kubeconfig = tmp_path / "pipeline-kubeconfig"
    model_dir = tmp_path / "artifacts" / "model"

    with running_trainer(kube_api, kube_namespace, settings.name) as output:
        record = trainjob_stage(
            inputs / "task.json",
            inputs / "data",
            str(tiny_causal_lm_dir),
            config,
            model_dir,
            settings,
            timeout_s=600,
            kubeconfig=kubeconfig,
        )

    assert record["steps"] == 4, output
    assert json.loads((model_dir / TRAIN_RESULT_FILE).read_text()) == record
    assert (model_dir / "model.safetensors").is_file()
    assert (settings.work_dir / "checkpoints" / "checkpoint-4" / "rng_state_1.pth").is_file()
