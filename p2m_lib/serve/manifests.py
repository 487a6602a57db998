"""The KServe objects that serve one model: a ServingRuntime for our image and an InferenceService.

The runtime runs `python -m p2m_lib.serve /mnt/models --name={{.Name}} --host=0.0.0.0 --port=8080`
in the serving image: KServe's storage initializer downloads `storageUri` to /mnt/models first, and
fills in `{{.Name}}` with the InferenceService's name, so the routes are
`/v1/models/<service name>:predict` and `/v2/models/<service name>/infer`. Batching settings
travel as environment variables of the InferenceService's model container (KServe appends, not
replaces, arguments given there). Manifests hold names only: S3 credentials reach the storage
initializer through the service account's secret, never through these objects.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from p2m_lib.errors import P2MError
from p2m_lib.serve.config import DEFAULT_HTTP_PORT

KSERVE_GROUP = "serving.kserve.io"
INFERENCE_SERVICE_VERSION = "v1beta1"
SERVING_RUNTIME_VERSION = "v1alpha1"
MODEL_FORMAT = "p2m"
MODEL_FORMAT_VERSION = "1"
MODEL_MOUNT = "/mnt/models"
DEFAULT_SERVICE_ACCOUNT = "p2m-serving"
DEFAULT_REGISTRY = "localhost:5000/p2m"
SERVING_IMAGE = "p2m-serving"
DEPLOYMENT_MODES = ("Serverless", "RawDeployment")
DEMO_PORT = 7860
DEMO_WAIT_S = 900
PART_OF = {"app.kubernetes.io/part-of": "p2m"}
# Knative and KServe append "-predictor" and revision suffixes to the name inside one 63-character
# DNS label, so the name itself must stay well below 63.
SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,43}[a-z0-9])?")
_CPU = re.compile(r"(\d+(?:\.\d+)?)(m?)")


def serving_image() -> str:
    """The serving image: P2M_IMAGE_REGISTRY/p2m-serving:P2M_IMAGE_TAG (the same settings as the
    components' images: default registry localhost:5000/p2m, default tag the installed p2m version)."""
    registry = os.environ.get("P2M_IMAGE_REGISTRY") or DEFAULT_REGISTRY
    try:
        default_tag = version("p2m")
    except PackageNotFoundError:  # a checkout that was never installed
        default_tag = "dev"
    return f"{registry.rstrip('/')}/{SERVING_IMAGE}:{os.environ.get('P2M_IMAGE_TAG') or default_tag}"


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the manifests say about one served model.

    Attributes:
        name: InferenceService name (lowercase letters, digits and "-", at most 45).
        namespace: Its namespace.
        storage_uri: Where the model folder is, `s3://bucket/prefix`.
        image: The serving image.
        service_account: Account whose secret carries the S3 credentials and endpoint annotations.
        cpu: CPU request and limit, in Kubernetes units ("1", "500m").
        memory: Memory request and limit ("2Gi").
        gpus: `nvidia.com/gpu` limit; 0 for none.
        min_replicas: Fewest replicas (0: scale to zero, Serverless mode only).
        max_replicas: Most replicas.
        canary_traffic_percent: Share of traffic for a new revision of an existing service
            (Serverless mode only); None sends it all.
        deployment_mode: "Serverless" or "RawDeployment"; None for the cluster's default.
        max_batch_size: Most inputs decoded together.
        max_wait_ms: Longest wait for a batch to fill.
        demo: Add the Gradio demo as a sidecar container (its image must hold gradio).
        annotations: The InferenceService's annotations (the model's lineage).
    """

    name: str
    namespace: str
    storage_uri: str
    image: str
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    cpu: str = "1"
    memory: str = "2Gi"
    gpus: int = 0
    min_replicas: int = 1
    max_replicas: int = 1
    canary_traffic_percent: int | None = None
    deployment_mode: str | None = None
    max_batch_size: int = 16
    max_wait_ms: float = 10.0
    demo: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not SERVICE_NAME.fullmatch(self.name):
            raise P2MError(
                f"service name {self.name!r} must be lowercase letters, digits and '-', start with a "
                "letter, end with a letter or digit, and be at most 45 characters"
            )
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise P2MError(
                f"replicas must satisfy 0 <= min ({self.min_replicas}) <= max ({self.max_replicas}), max >= 1"
            )
        if self.canary_traffic_percent is not None and not 0 <= self.canary_traffic_percent <= 100:
            raise P2MError(f"canary traffic percent must be 0-100, not {self.canary_traffic_percent}")
        if self.deployment_mode is not None and self.deployment_mode not in DEPLOYMENT_MODES:
            raise P2MError(f"deployment mode must be one of {', '.join(DEPLOYMENT_MODES)}")
        if self.gpus < 0:
            raise P2MError(f"gpus must not be negative, not {self.gpus}")
        if not _cpu_cores(self.cpu):
            raise P2MError(
                f"cpu must be a positive Kubernetes CPU quantity like 2, 1.5 or 500m, not {self.cpu!r}"
            )

    @property
    def threads(self) -> int:
        """Torch threads for the CPU limit: its cores rounded up."""
        return math.ceil(_cpu_cores(self.cpu) or 1)

    @property
    def runtime_name(self) -> str:
        """The ServingRuntime's name: one per service, so services never change each other's runtime."""
        return f"{self.name}-runtime"


def render_manifests(spec: ServiceSpec) -> list[dict[str, Any]]:
    """The ServingRuntime, then the InferenceService."""
    return [render_serving_runtime(spec), render_inference_service(spec)]


def render_serving_runtime(spec: ServiceSpec) -> dict[str, Any]:
    """The ServingRuntime (serving.kserve.io/v1alpha1) running our serving image."""
    containers = [_server_container(spec)]
    if spec.demo:
        containers.append(_demo_container(spec))
    return {
        "apiVersion": f"{KSERVE_GROUP}/{SERVING_RUNTIME_VERSION}",
        "kind": "ServingRuntime",
        "metadata": {"name": spec.runtime_name, "namespace": spec.namespace, "labels": dict(PART_OF)},
        "spec": {
            "supportedModelFormats": [{"name": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION}],
            "protocolVersions": ["v1", "v2"],
            "containers": containers,
        },
    }


def render_inference_service(spec: ServiceSpec) -> dict[str, Any]:
    """The InferenceService (serving.kserve.io/v1beta1) serving `spec.storage_uri` with our runtime.

    A canary percent only matters when the service exists: its first revision takes all traffic.
    """
    metadata: dict[str, Any] = {"name": spec.name, "namespace": spec.namespace, "labels": dict(PART_OF)}
    annotations = dict(spec.annotations)
    if spec.deployment_mode:
        annotations[f"{KSERVE_GROUP}/deploymentMode"] = spec.deployment_mode
    if annotations:
        metadata["annotations"] = annotations
    predictor: dict[str, Any] = {
        "serviceAccountName": spec.service_account,
        "minReplicas": spec.min_replicas,
        "maxReplicas": spec.max_replicas,
        "model": {
            "modelFormat": {"name": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION},
            "runtime": spec.runtime_name,
            "storageUri": spec.storage_uri,
            "env": [
                {"name": "P2M_SERVE_MAX_BATCH_SIZE", "value": str(spec.max_batch_size)},
                {"name": "P2M_SERVE_MAX_WAIT_MS", "value": f"{spec.max_wait_ms:g}"},
                # torch sizes its thread pool by the node's cores, not the pod's CPU limit: more
                # threads than cores thrash (measured: 5x slower on an oversubscribed machine).
                {"name": "OMP_NUM_THREADS", "value": str(spec.threads)},
            ],
            "resources": _resources(spec),
        },
    }
    if spec.canary_traffic_percent is not None:
        predictor["canaryTrafficPercent"] = spec.canary_traffic_percent
    return {
        "apiVersion": f"{KSERVE_GROUP}/{INFERENCE_SERVICE_VERSION}",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def _cpu_cores(cpu: str) -> float | None:
    """The cores a CPU quantity names ("2", "1.5", "500m"), or None if it is not one."""
    match = _CPU.fullmatch(cpu)
    if match is None:
        return None
    amount, milli = match.groups()
    return float(amount) / (1000 if milli else 1)


def _server_container(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "name": "kserve-container",
        "image": spec.image,
        "command": ["python", "-m", "p2m_lib.serve"],
        "args": [MODEL_MOUNT, "--name={{.Name}}", "--host=0.0.0.0", f"--port={DEFAULT_HTTP_PORT}"],
        # The model is on local disk: nothing may be fetched from a hub at run time.
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}, {"name": "TRANSFORMERS_OFFLINE", "value": "1"}],
        "ports": [{"containerPort": DEFAULT_HTTP_PORT, "protocol": "TCP"}],
    }


def _demo_container(spec: ServiceSpec) -> dict[str, Any]:
    # Knative forwards traffic to the one container that declares ports, so the sidecar declares
    # none: reach it with `kubectl port-forward <pod> 7860`.
    return {
        "name": "p2m-demo",
        "image": spec.image,
        "command": ["python", "-m", "p2m_lib.serve.demo"],
        "args": [
            f"--endpoint=http://127.0.0.1:{DEFAULT_HTTP_PORT}",
            # It starts with the server, which may take minutes to download and load the model.
            f"--wait={DEMO_WAIT_S}",
            "--host=0.0.0.0",
            f"--port={DEMO_PORT}",
        ],
    }


def _resources(spec: ServiceSpec) -> dict[str, dict[str, Any]]:
    amounts = {"cpu": spec.cpu, "memory": spec.memory}
    limits: dict[str, Any] = dict(amounts)
    if spec.gpus:
        limits["nvidia.com/gpu"] = str(spec.gpus)
    return {"requests": dict(amounts), "limits": limits}
