"""Deploy a trained model: upload it to S3, then create or patch its KServe InferenceService.

The model goes to `s3://BUCKET/PREFIX/NAME/<content digest>/`: the same folder always lands at
the same place (a rerun uploads nothing), and a new model never overwrites the files an older
revision still serves from, so a canary rollout keeps the old model intact.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.kube import api_client, current_namespace
from p2m_lib.serve.config import ServeConfig
from p2m_lib.serve.kube import apply, wait_ready
from p2m_lib.serve.manifests import DEFAULT_SERVICE_ACCOUNT, ServiceSpec, render_manifests, serving_image

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from p2m_lib.serve.lineage import Lineage

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "p2m"
# The share of traffic a new model of an existing service takes until `p2m promote`.
DEFAULT_CANARY_PERCENT = 10
DEFAULT_TIMEOUT_S = 600.0
# Characters of the content digest in the storage path: enough to never collide in practice.
DIGEST_CHARS = 16


@dataclass(frozen=True)
class DeployResult:
    """What `deploy_model` did.

    Attributes:
        name: The InferenceService's name.
        namespace: Its namespace.
        url: Its URL once Ready; None for a dry run.
        storage_uri: Where the model is (or would be) in S3.
        manifests: The ServingRuntime and InferenceService, as applied (or as a dry run prints them).
        action: "dry-run", "created" or "patched" (the InferenceService).
        uploaded: Files uploaded by this call (0 on a rerun with the same model).
    """

    name: str
    namespace: str
    url: str | None
    storage_uri: str
    manifests: tuple[dict[str, Any], ...]
    action: str
    uploaded: int = 0


def deploy_model(
    model_dir: Path,
    *,
    name: str,
    namespace: str,
    bucket: str,
    prefix: str = DEFAULT_PREFIX,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    image: str | None = None,
    cpu: str = "1",
    memory: str = "2Gi",
    gpus: int = 0,
    min_replicas: int = 1,
    max_replicas: int = 1,
    canary_traffic_percent: int | None = None,
    deployment_mode: str | None = None,
    max_batch_size: int = ServeConfig.max_batch_size,
    max_wait_ms: float = ServeConfig.max_wait_ms,
    demo: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    kubeconfig: Path | None = None,
    dry_run: bool = False,
    lineage: Lineage | None = None,
) -> DeployResult:
    """Upload `model_dir` and serve it as the InferenceService `name`, or print what would be done.

    Args:
        model_dir: A model folder written by p2m training (`RUN/model`).
        name: InferenceService name (lowercase letters, digits, "-"; at most 45 characters).
        namespace: Its namespace; "" for the current one (kubeconfig context, or the pod's own).
        bucket: S3 bucket (created if missing).
        prefix: Key prefix; the model goes under `prefix/name/<digest>/`.
        service_account: Account whose secret carries the S3 credentials and KServe's S3
            annotations, for the storage initializer.
        image: Serving image; None for P2M_IMAGE_REGISTRY/p2m-serving:P2M_IMAGE_TAG.
        cpu: CPU request and limit.
        memory: Memory request and limit.
        gpus: `nvidia.com/gpu` limit (0: none).
        min_replicas: Fewest replicas (0 scales to zero in Serverless mode).
        max_replicas: Most replicas.
        canary_traffic_percent: Share of traffic for the new revision when the service exists
            (Serverless mode only); None or 100 sends all traffic to it (and ends a previous canary).
        deployment_mode: "Serverless" or "RawDeployment"; None for the cluster's default.
        max_batch_size: The server's batch size.
        max_wait_ms: The server's longest wait for a batch to fill.
        demo: Add the Gradio demo sidecar (the image must hold gradio).
        timeout_s: How long to wait for Ready.
        kubeconfig: Kubeconfig file; None for $KUBECONFIG, ~/.kube/config or in-cluster.
        dry_run: Only render the manifests: no upload and no cluster access (needs no credentials).
        lineage: Where the model comes from: the InferenceService's annotations, and a section
            appended to the uploaded model card (the folder itself is not changed).

    Returns:
        The URL (once Ready), the storage URI and the manifests.

    Raises:
        P2MError: If the folder is not a p2m model, a setting is invalid, S3 credentials or the
            Kubernetes configuration are missing, the storage or the API refuses, or the
            service is not Ready within `timeout_s`.
    """
    from p2m_lib.process.template import TaskTemplate
    from p2m_lib.store import S3Settings, check_bucket, folder_digest, local_files, upload_files

    model_dir = Path(model_dir)
    if canary_traffic_percent == 100:
        canary_traffic_percent = None  # all traffic: no canary field left behind for `p2m promote`
    TaskTemplate.load(model_dir)  # refuse early a folder the server could not load
    if not bucket:
        raise P2MError("no S3 bucket: pass --bucket (or set P2M_S3_BUCKET)")
    check_bucket(bucket)
    # Every setting is checked before the model is hashed (seconds for a large one) or uploaded.
    settings = None if dry_run else S3Settings.from_env()
    api = None if dry_run else api_client(kubeconfig)
    spec = ServiceSpec(
        name=name,
        namespace=namespace or current_namespace(kubeconfig),
        storage_uri="",
        image=image or serving_image(),
        service_account=service_account,
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        canary_traffic_percent=canary_traffic_percent,
        deployment_mode=deployment_mode,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        demo=demo,
        annotations=lineage.annotations() if lineage else {},
    )
    with TemporaryDirectory(prefix="p2m-deploy-") as scratch:
        cards = {}
        if lineage:
            from p2m_lib.serve.lineage import card_with_lineage
            from p2m_lib.train.card import CARD_FILE

            cards[CARD_FILE] = card_with_lineage(model_dir, lineage, Path(scratch))
        files = local_files(model_dir, replaced=cards)
        key_prefix = f"{prefix.strip('/')}/{name}/{folder_digest(files)[:DIGEST_CHARS]}".lstrip("/")
        spec = replace(spec, storage_uri=f"s3://{bucket}/{key_prefix}")
        manifests = render_manifests(spec)
        if settings is None or api is None:  # a dry run
            return DeployResult(name, spec.namespace, None, spec.storage_uri, tuple(manifests), "dry-run")
        upload = upload_files(files, bucket, key_prefix, settings)
    log.info(
        "uploaded %d files (%d already there) to %s", len(upload.uploaded), len(upload.skipped), upload.uri
    )
    url, action = _apply_and_wait(api, manifests, spec, timeout_s)
    return DeployResult(
        name, spec.namespace, url, spec.storage_uri, tuple(manifests), action, len(upload.uploaded)
    )


def _apply_and_wait(
    api: ApiClient, manifests: list[dict[str, Any]], spec: ServiceSpec, timeout_s: float
) -> tuple[str, str]:
    runtime, service = manifests
    apply(api, runtime)
    applied = apply(api, service, patch=_service_patch(service))
    log.info("%s InferenceService %s/%s; waiting for Ready", applied.action, spec.namespace, spec.name)
    # Poll often enough for a short timeout, without hammering the API for a long one.
    poll_s = min(2.0, max(timeout_s / 10, 0.05))
    url = wait_ready(api, spec.name, spec.namespace, applied.generation, timeout_s, poll_s)
    return url, applied.action


def _service_patch(service: dict[str, Any]) -> dict[str, Any]:
    """The patch for an existing service: without a canary percent, an old one is removed (None in
    a merge patch deletes the field), so the new revision takes all traffic."""
    predictor = {"canaryTrafficPercent": None, **service["spec"]["predictor"]}
    return {**service, "spec": {**service["spec"], "predictor": predictor}}
