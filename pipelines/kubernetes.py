"""Kubernetes settings of pipeline tasks: secrets as environment variables, the GPU pool, retries, volumes.

Secret names and keys match manifests/secrets/; only names travel in the compiled YAML, never values.
kfp-kubernetes settings are ignored by KFP's local runner.
"""

from __future__ import annotations

from typing import Any

from kfp import dsl, kubernetes

TEACHER_SECRET = "p2m-teacher"
TEACHER_SECRET_KEYS = {"api-key": "OPENAI_API_KEY"}
S3_SECRET = "p2m-s3"
# Keys named as KServe's storage initializer reads them, so one secret serves the deploy step and KServe.
S3_SECRET_KEYS = {name: name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
# Where the optional work volume (a PVC) is mounted in the tasks that keep resumable state.
WORK_MOUNT = "/p2m-work"
NETWORK_RETRIES = 3


def uses_teacher(task: dsl.PipelineTask, retries: int) -> dsl.PipelineTask:
    """A step that calls the teacher: its key from the secret (optional, for keyless endpoints),
    retried on failure and never cached (its replies are sampled, its endpoint may be flaky)."""
    kubernetes.use_secret_as_env(
        task, secret_name=TEACHER_SECRET, secret_key_to_env=TEACHER_SECRET_KEYS, optional=True
    )
    return network_step(task, retries)


def network_step(task: dsl.PipelineTask, retries: int) -> dsl.PipelineTask:
    """A step that depends on a remote service: retried with backoff, not cached."""
    task.set_caching_options(False)
    if retries:
        task.set_retry(retries, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s")
    return task


def on_gpu_pool(
    task: dsl.PipelineTask, accelerator: Any, count: Any, node_selector: Any, tolerations: Any
) -> None:
    """Request accelerators and schedule on the GPU node pool (all four may be pipeline parameters)."""
    task.set_accelerator_type(accelerator).set_accelerator_limit(count)
    kubernetes.add_node_selector_json(task, node_selector)
    kubernetes.add_toleration_json(task, tolerations)


def on_work_volume(task: dsl.PipelineTask, volume: str) -> None:
    """Mount the work volume (a PVC name fixed at compile time; empty: none) at WORK_MOUNT."""
    if volume:
        kubernetes.mount_pvc(task, pvc_name=volume, mount_path=WORK_MOUNT)


def uses_s3(task: dsl.PipelineTask) -> None:
    """A step that writes to S3: its credentials and endpoint from the p2m-s3 secret."""
    kubernetes.use_secret_as_env(task, secret_name=S3_SECRET, secret_key_to_env=S3_SECRET_KEYS)
