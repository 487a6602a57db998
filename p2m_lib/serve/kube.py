"""The KServe objects of a deployment: create or patch them, wait for the service to be Ready.

The client and the one-line errors (no configuration, credentials, permission, namespace, KServe
not installed, an unreachable or silent API) are `p2m_lib.kube`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.kube import (
    CustomKind,
    create_object,
    list_objects,
    object_generation,
    patch_object,
    poll,
    read_object,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

_GROUP, _VERBS = "serving.kserve.io", "get, create and patch"
SERVING_RUNTIME = CustomKind("ServingRuntime", _GROUP, "v1alpha1", "servingruntimes", "KServe", _VERBS)
INFERENCE_SERVICE = CustomKind("InferenceService", _GROUP, "v1beta1", "inferenceservices", "KServe", _VERBS)
_KINDS = {kind.kind: kind for kind in (SERVING_RUNTIME, INFERENCE_SERVICE)}


@dataclass(frozen=True)
class Applied:
    """The outcome of `apply`.

    Attributes:
        action: "created" or "patched".
        generation: The object's `metadata.generation` after the change.
    """

    action: str
    generation: int


def apply(api: ApiClient, manifest: dict[str, Any], patch: dict[str, Any] | None = None) -> Applied:
    """Create the object from `manifest`, or merge-patch it with `patch` (default: the manifest).

    A merge patch changes only the fields it names; a field set to None is removed.

    Raises:
        P2MError: On a refusal (permission, validation) or an unreachable API, naming the object.
    """
    kind = _KINDS[manifest["kind"]]
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    if read_object(api, kind, namespace, name) is None:
        return Applied("created", object_generation(create_object(api, kind, manifest)))
    patched = patch_object(api, kind, namespace, name, manifest if patch is None else patch)
    return Applied("patched", object_generation(patched))


def get_inference_service(api: ApiClient, name: str, namespace: str) -> dict[str, Any] | None:
    """The InferenceService `namespace/name` as the API server stores it; None when there is none.

    Raises:
        P2MError: On a refusal or an unreachable API (see `apply`).
    """
    return read_object(api, INFERENCE_SERVICE, namespace, name)


def list_inference_services(api: ApiClient, namespace: str, label_selector: str) -> list[dict[str, Any]]:
    """The namespace's InferenceServices whose labels match `label_selector`."""
    return list_objects(api, INFERENCE_SERVICE, namespace, label_selector)


def patch_inference_service(api: ApiClient, name: str, namespace: str, patch: dict[str, Any]) -> int:
    """Merge-patch the InferenceService (a None value removes a field); returns its new generation."""
    return object_generation(patch_object(api, INFERENCE_SERVICE, namespace, name, patch))


def wait_ready(
    api: ApiClient, name: str, namespace: str, generation: int, timeout_s: float, poll_s: float = 2.0
) -> str:
    """Poll the InferenceService until it reports Ready for `generation`; return its URL.

    A status older than `generation` (the controller has not seen the change yet) does not count,
    so a patched service that was Ready before is not mistaken for ready now. The first read
    comes at once, the next after 0.1 s, and each wait doubles up to `poll_s`.

    Raises:
        P2MError: If it is not Ready within `timeout_s`, with its last condition's message.
    """

    def status() -> dict[str, Any]:
        return (read_object(api, INFERENCE_SERVICE, namespace, name) or {}).get("status") or {}

    last, ready = poll(status, lambda found: is_ready(found, generation), timeout_s, poll_s)
    if not ready:
        raise P2MError(
            f"InferenceService {namespace}/{name} not Ready after {timeout_s:g} s "
            f"({_why_not(last, generation)}); "
            f"see kubectl describe inferenceservice {name} -n {namespace}"
        )
    # status.url is the external URL; address.url the in-cluster one, set when there is no ingress.
    return last.get("url") or (last.get("address") or {}).get("url") or ""


def is_ready(status: dict[str, Any], generation: int) -> bool:
    """Whether an InferenceService's `status` says Ready for `generation` (an absent
    `observedGeneration` counts as current)."""
    if status.get("observedGeneration", generation) < generation:
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))


def _why_not(status: dict[str, Any], generation: int) -> str:
    observed = status.get("observedGeneration", generation)
    if observed < generation:
        # A Ready condition here is the previous revision's: the controller has not seen the change.
        return (
            f"its status is for generation {observed}, older than the service's generation {generation}: "
            "KServe has not reconciled the change yet"
        )
    waiting = [c for c in status.get("conditions", []) if c.get("status") != "True"]
    if not waiting:
        return "no status yet"
    condition = waiting[0]
    return (
        f"{condition.get('type')}: {condition.get('reason') or ''} {condition.get('message') or ''}".strip()
    )
