"""Kubeflow Trainer's controller, played by a test on the real API server: TrainJob statuses written
through the status subresource, and a TrainJob's command run on this machine as its pods would.

The status has the shape Trainer writes: conditions (type, status, reason, message,
lastTransitionTime) and `trainerStatus` (progress, time left, last update).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kube_server import KubeServer
from store.s3_server import free_port

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
REPOSITORY = Path(__file__).resolve().parents[2]
NOW = "2026-11-30T12:00:00Z"


def condition(kind: str, reason: str, message: str, status: str = "True") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


CREATED = condition("Created", "JobsCreationSucceeded", "succeeded to create Jobs")
COMPLETE = condition("Complete", "JobsCompleted", "jobset completed successfully")


def write_status(server: KubeServer, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
    """Merge `status` into the TrainJob's status through the status subresource, as the controller does."""
    from kubernetes.client import CustomObjectsApi

    objects = CustomObjectsApi(server.client())
    return objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": status}
    )


def read(server: KubeServer, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    try:
        return CustomObjectsApi(server.client()).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


@contextmanager
def running_trainer(
    server: KubeServer, namespace: str, name: str, timeout_s: float = 600
) -> Iterator[list[str]]:
    """While the block runs: once the TrainJob exists, mark it Created, run its command on this machine
    (one node of `numProcPerNode` CPU processes, torchrun's PET_* variables set as Trainer's torch
    plugin sets them), then mark it Complete, or Failed with the exit status. Yields the output."""
    output: list[str] = []
    failures: list[BaseException] = []

    def reconcile() -> None:
        try:
            deadline = time.monotonic() + timeout_s
            while (job := read(server, namespace, name)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no TrainJob {namespace}/{name} appeared")
                time.sleep(0.1)
            write_status(server, namespace, name, {"conditions": [CREATED]})
            trainer = job["spec"]["trainer"]
            environment = {
                **os.environ,
                "PET_NNODES": "1",
                "PET_NPROC_PER_NODE": str(trainer["numProcPerNode"]),
                "PET_NODE_RANK": "0",
                "PET_MASTER_ADDR": "127.0.0.1",
                "PET_MASTER_PORT": str(free_port()),
                "CUDA_VISIBLE_DEVICES": "",
                "PYTHONPATH": str(REPOSITORY),
                **{item["name"]: item["value"] for item in trainer.get("env", [])},
            }
            program, *arguments = trainer["command"]
            assert program == "torchrun"
            # The `torchrun` script of this Python's torch: the same program, sure to be this one.
            command = [sys.executable, "-m", "torch.distributed.run", *arguments]
            finished = subprocess.run(
                command, env=environment, capture_output=True, text=True, timeout=timeout_s
            )
            output.append(finished.stdout + finished.stderr)
            ended = (
                COMPLETE
                if finished.returncode == 0
                else condition("Failed", "FailedJobs", f"node-0 exited with {finished.returncode}")
            )
            write_status(server, namespace, name, {"conditions": [CREATED, ended]})
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)

    thread = threading.Thread(target=reconcile, daemon=True)
    thread.start()
    try:
        yield output
    finally:
        thread.join(timeout=timeout_s)
    if failures:
        raise failures[0]
