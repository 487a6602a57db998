"""Training on several GPUs or nodes of a cluster: a Kubeflow Trainer v2 TrainJob, and waiting for it.

A TrainJob (trainer.kubeflow.org/v1alpha1) names a ClusterTrainingRuntime, `torch-distributed` by
default, whose controller starts one pod per node and sets torchrun's PET_* variables in each
(nodes, processes per node, node rank, rendezvous address). The TrainJob's command is
`torchrun -m p2m_lib.train ...`: the worker `p2m run --nproc` starts on a laptop
(`p2m_lib.train.distributed`). Its pods mount the work volume, which holds the inputs (copied
there by `stage_request`), the checkpoints to resume from, and the model folder rank 0 writes.

`run_trainjob` creates the TrainJob (or finds the one a retried step created: running or done, it
is waited for; failed, it is replaced, and training resumes from the checkpoints), then polls its
status, logging each new condition and the progress the trainer reports, until it is Complete or
Failed (raised with the TrainJob's own reason) or the timeout passes (then it is deleted, to free
its nodes, and the error says so).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.config import TrainConfig
from p2m_lib.errors import P2MError
from p2m_lib.kube import CustomKind, create_object, delete_object, poll, read_object
from p2m_lib.train.distributed import TrainRequest, device_batch_size

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

log = logging.getLogger(__name__)

TRAIN_JOB = CustomKind(
    "TrainJob", "trainer.kubeflow.org", "v1alpha1", "trainjobs", "Kubeflow Trainer", "get, create and delete"
)
DEFAULT_RUNTIME = "torch-distributed"
# The replicated job and container of torch-distributed (and of Trainer's other torch runtimes)
# that run the trainer: the runtime patch adds the work volume to them.
TRAINER_NODE = "node"
# Who owns p2m's runtime patch (TrainJob's `runtimePatches` is keyed by manager).
PATCH_MANAGER = "p2m"
VOLUME_NAME = "p2m-work"
# The folder of the work directory that holds a TrainJob's inputs and its model folder.
JOB_FOLDER = "trainjob"
# How long a failed TrainJob may take to go away before its replacement is created.
DELETE_TIMEOUT_S = 120.0
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class TrainJobSettings:
    """Where and on what a TrainJob trains, as the pipeline's parameters say.

    Attributes:
        name: The TrainJob's name (`trainjob_name`): a DNS label of at most 63 characters.
        namespace: Its namespace (the pipeline's own).
        image: The trainer image (p2m with CUDA torch).
        nodes: Training nodes (`train_nodes`).
        gpus_per_node: GPUs, and so processes, per node; 0 trains on CPU, one process per node.
        work_volume: The PersistentVolumeClaim every node mounts (ReadWriteMany for several nodes).
        work_mount: Where it is mounted, in the pipeline's tasks and in the TrainJob's pods alike.
        work_dir: The run's folder on it (under `work_mount`): inputs, checkpoints, model.
        gpu_resource: The accelerator resource, e.g. nvidia.com/gpu.
        runtime: The ClusterTrainingRuntime the TrainJob refers to.
        node_selector: Node labels of the GPU pool.
        tolerations: Tolerations for the pool's taints, as Kubernetes objects.
    """

    name: str
    namespace: str
    image: str
    nodes: int
    gpus_per_node: int
    work_volume: str
    work_mount: Path
    work_dir: Path
    gpu_resource: str = "nvidia.com/gpu"
    runtime: str = DEFAULT_RUNTIME
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()

    @property
    def processes_per_node(self) -> int:
        """One process per GPU; one per node on CPU nodes."""
        return max(self.gpus_per_node, 1)

    def check(self, config: TrainConfig) -> None:
        """Refuse, before anything is copied or created, settings a TrainJob cannot run.

        Raises:
            P2MError: A bad name, node or GPU count, no work volume or a work directory outside
                it, or a batch that the processes cannot share evenly.
        """
        if not (_DNS_LABEL.match(self.name) and len(self.name) <= 63):
            raise P2MError(
                f"{self.name!r} cannot name a TrainJob: use at most 63 lowercase letters, digits and -"
            )
        if self.nodes < 1 or self.gpus_per_node < 0:
            raise P2MError(
                f"train_nodes must be 1 or more and gpus_per_node 0 or more, not {self.nodes} and "
                f"{self.gpus_per_node}"
            )
        if not self.work_volume or not self.work_dir.is_relative_to(self.work_mount):
            raise P2MError(
                "training on several GPUs or nodes runs a TrainJob whose pods read the data and write the "
                "model on the work volume: compile with --work-volume and set work_dir under "
                f"{self.work_mount}"
            )
        device_batch_size(config.batch_size, self.nodes * self.processes_per_node)


def trainjob_name(run_id: str) -> str:
    """A TrainJob name for a pipeline run: `p2m-train-` and the start of its id, so that a retried
    step finds the TrainJob its earlier try created."""
    cleaned = re.sub(r"[^a-z0-9-]", "", run_id.lower()).strip("-")
    return f"p2m-train-{cleaned[:40]}".rstrip("-")


def stage_request(
    task_path: Path, data_dir: Path, student: str | None, config: TrainConfig, settings: TrainJobSettings
) -> TrainRequest:
    """Copy the task and the splits onto the work volume; the request the TrainJob's workers run.

    The checkpoints are `work_dir/checkpoints`, as when the step trains in its own pod, so a
    rerun resumes from them either way.
    """
    folder = settings.work_dir / JOB_FOLDER
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy2(task_path, folder / "task.json")
    shutil.copytree(data_dir, folder / "data", dirs_exist_ok=True)
    return TrainRequest(
        folder / "task.json",
        folder / "data",
        student,
        config,
        folder / "model",
        settings.work_dir / "checkpoints",
    )


def trainjob_manifest(settings: TrainJobSettings, request: TrainRequest) -> dict[str, Any]:
    """The TrainJob: runtime, image, the worker's command, nodes, processes and GPUs per node, and a
    runtime patch that mounts the work volume and places the pods on the GPU pool."""
    trainer: dict[str, Any] = {
        "image": settings.image,
        "command": ["torchrun", *request.worker_command()],
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "numNodes": settings.nodes,
        "numProcPerNode": settings.processes_per_node,
    }
    if settings.gpus_per_node:
        gpus = {settings.gpu_resource: str(settings.gpus_per_node)}
        trainer["resourcesPerNode"] = {"requests": gpus, "limits": gpus}
    pod: dict[str, Any] = {
        "volumes": [{"name": VOLUME_NAME, "persistentVolumeClaim": {"claimName": settings.work_volume}}],
        "containers": [
            {
                "name": TRAINER_NODE,
                "volumeMounts": [{"name": VOLUME_NAME, "mountPath": str(settings.work_mount)}],
            }
        ],
    }
    if settings.node_selector:
        pod["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        pod["tolerations"] = [dict(toleration) for toleration in settings.tolerations]
    job = {"name": TRAINER_NODE, "template": {"spec": {"template": {"spec": pod}}}}
    return {
        "apiVersion": f"{TRAIN_JOB.group}/{TRAIN_JOB.version}",
        "kind": TRAIN_JOB.kind,
        "metadata": {
            "name": settings.name,
            "namespace": settings.namespace,
            "labels": {"app.kubernetes.io/managed-by": "p2m", "app.kubernetes.io/component": "train"},
        },
        "spec": {
            "runtimeRef": {"name": settings.runtime},
            "trainer": trainer,
            "runtimePatches": [
                {
                    "manager": PATCH_MANAGER,
                    "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [job]}}},
                }
            ],
        },
    }


def run_trainjob(
    api: ApiClient, settings: TrainJobSettings, request: TrainRequest, timeout_s: float, poll_s: float = 10.0
) -> None:
    """Create (or find, or replace after a failure) the TrainJob and wait until it is Complete.

    Raises:
        P2MError: The API refused it, it Failed (with its reason and message), or it did not finish
            within `timeout_s` (it is then deleted).
    """
    manifest = trainjob_manifest(settings, request)
    action = start_trainjob(api, manifest)
    log.info(
        "%s TrainJob %s/%s: %d node(s) x %d process(es), runtime %s",
        action,
        settings.namespace,
        settings.name,
        settings.nodes,
        settings.processes_per_node,
        settings.runtime,
    )
    wait_for_trainjob(api, settings.name, settings.namespace, timeout_s, poll_s)


def start_trainjob(api: ApiClient, manifest: dict[str, Any]) -> str:
    """Create the TrainJob; "created", "attached" (one of that name runs or is done) or "replaced"
    (one of that name had failed: deleted, then created anew)."""
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    found = read_object(api, TRAIN_JOB, namespace, name)
    if found is not None and not _condition(found.get("status") or {}, "Failed"):
        return "attached"
    action = "created"
    if found is not None:
        delete_object(api, TRAIN_JOB, namespace, name)
        _, gone = poll(
            lambda: read_object(api, TRAIN_JOB, namespace, name),
            lambda job: job is None,
            DELETE_TIMEOUT_S,
            2.0,
        )
        if not gone:
            raise P2MError(
                f"the failed TrainJob {namespace}/{name} was deleted but is still there after "
                f"{DELETE_TIMEOUT_S:g} s"
            )
        action = "replaced"
    create_object(api, TRAIN_JOB, manifest)
    return action


def wait_for_trainjob(
    api: ApiClient, name: str, namespace: str, timeout_s: float, poll_s: float = 10.0
) -> None:
    """Poll the TrainJob until it is Complete, logging each new condition and progress report.

    Raises:
        P2MError: It Failed (with its reason and message), it was deleted, or it was not done within
            `timeout_s`: then it is deleted, to free its nodes; its checkpoints stay for a rerun.
    """
    where = f"TrainJob {namespace}/{name}"
    reported: set[str] = set()

    def status() -> dict[str, Any]:
        found = read_object(api, TRAIN_JOB, namespace, name)
        if found is None:
            raise P2MError(f"{where} was deleted while p2m waited for it")
        current = found.get("status") or {}
        for line in _news(current):
            if line not in reported:
                reported.add(line)
                log.info("%s: %s", where, line)
        return current

    last, finished = poll(
        status,
        lambda current: any(_condition(current, kind) for kind in ("Complete", "Failed")),
        timeout_s,
        poll_s,
    )
    failed = _condition(last, "Failed")
    if failed:
        raise P2MError(
            f"{where} failed: {failed.get('reason')}: {failed.get('message')} "
            f"(kubectl describe trainjob {name} -n {namespace})"
        )
    if not finished:
        delete_object(api, TRAIN_JOB, namespace, name)
        raise P2MError(
            f"{where} did not finish within {timeout_s:g} s ({_state(last)}); it was deleted to free its "
            "nodes, and a rerun resumes from its last checkpoint"
        )


def _condition(status: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The condition of that type when it holds (status "True")."""
    return next(
        (c for c in status.get("conditions") or [] if c.get("type") == kind and c.get("status") == "True"),
        None,
    )


def _news(status: Mapping[str, Any]) -> list[str]:
    """What a status says, one line per condition and one for the trainer's progress."""
    lines = [
        f"{c.get('type')}={c.get('status')} ({': '.join(filter(None, (c.get('reason'), c.get('message'))))})"
        for c in status.get("conditions") or []
    ]
    progress = status.get("trainerStatus") or {}
    if progress.get("progressPercentage") is not None:
        left = progress.get("estimatedRemainingSeconds")
        lines.append(
            f"{progress['progressPercentage']}% trained"
            + (f", about {left} s left" if left is not None else "")
        )
    return lines


def _state(status: Mapping[str, Any]) -> str:
    holding = [c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"]
    return f"last conditions: {', '.join(holding)}" if holding else "no status from Kubeflow Trainer yet"
