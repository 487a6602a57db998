"""KServe's controller, played by a test: it watches the InferenceServices of one namespace on the real
API server and writes Ready, through the status subresource, for each new generation.

The status is the shape KServe writes: `observedGeneration`, `url`, the in-cluster
`address.url`, a Ready condition, and the predictor's traffic split (100 % to the latest revision,
or the canary percent to it and the rest to the previous one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kube_server import KubeServer

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
# How long one watch request lasts before the loop checks whether to stop.
WATCH_S = 1


def ready_status(service: dict[str, Any], generation: int | None = None) -> dict[str, Any]:
    """The status KServe's controller writes once `service` is Ready at `generation` (default: its own)."""
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    generation = service["metadata"]["generation"] if generation is None else generation
    canary = service["spec"]["predictor"].get("canaryTrafficPercent")
    latest = f"{name}-predictor-{generation:05d}"
    traffic = [{"revisionName": latest, "percent": 100, "latestRevision": True}]
    if canary is not None and generation > 1:
        traffic = [
            {"revisionName": latest, "percent": canary, "latestRevision": True, "tag": "latest"},
            {
                "revisionName": f"{name}-predictor-{generation - 1:05d}",
                "percent": 100 - canary,
                "latestRevision": False,
                "tag": "prev",
            },
        ]
    return {
        "observedGeneration": generation,
        "url": f"http://{name}.{namespace}.example.com",
        "address": {"url": f"http://{name}-predictor.{namespace}.svc.cluster.local"},
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-30T00:00:00Z"}],
        "components": {"predictor": {"latestReadyRevision": latest, "traffic": traffic}},
    }


def write_status(server: KubeServer, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
    """Replace the InferenceService's status through the status subresource, as a controller does."""
    from kubernetes.client import CustomObjectsApi

    objects = CustomObjectsApi(server.client())
    return objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": status}
    )


Reconcile = Callable[[dict[str, Any]], dict[str, Any]]


@contextmanager
def kserve_controller(server: KubeServer, namespace: str, status: Reconcile = ready_status) -> Iterator[None]:
    """While the block runs, write `status(service)` for every InferenceService of `namespace` whose
    status is not for its current generation (default: Ready)."""
    stop = threading.Event()
    failures: list[BaseException] = []
    thread = threading.Thread(
        target=_reconcile, args=(server, namespace, status, stop, failures), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=3 * WATCH_S + 5)
    if failures:
        raise failures[0]


def _reconcile(
    server: KubeServer, namespace: str, status: Reconcile, stop: threading.Event, failures: list
) -> None:
    from kubernetes import watch
    from kubernetes.client import CustomObjectsApi

    objects = CustomObjectsApi(server.client())
    try:
        while not stop.is_set():
            events = watch.Watch().stream(
                objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                timeout_seconds=WATCH_S,
            )
            for event in events:
                service = event["object"]
                observed = (service.get("status") or {}).get("observedGeneration")
                if event["type"] != "DELETED" and observed != service["metadata"]["generation"]:
                    write_status(server, namespace, service["metadata"]["name"], status(service))
    except Exception as error:  # handed to the test's thread, which raises it
        failures.append(error)
