"""The few Kubernetes API calls a deployment makes: create or patch KServe objects, wait for Ready.

Each failure becomes a one-line P2MError that says what to fix: no configuration, credentials not
accepted, no permission (naming the verb and resource), no such namespace, KServe not installed,
the API unreachable or silent, or a service that never became Ready.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# Each object kind by its `kind`: (API group version, plural name in the URL).
_RESOURCES = {
    "ServingRuntime": ("v1alpha1", "servingruntimes"),
    "InferenceService": ("v1beta1", "inferenceservices"),
}
_GROUP = "serving.kserve.io"
# One request's longest wait for an answer: an API server, or a proxy in front of it, that takes the
# connection and never answers must not hang a deploy (the client retries a GET 3 times).
REQUEST_TIMEOUT_S = 30.0
# A controller often answers a change within a second: look again soon, then less and less often.
FIRST_POLL_S = 0.1


@dataclass(frozen=True)
class Applied:
    """The outcome of `apply`.

    Attributes:
        action: "created" or "patched".
        generation: The object's `metadata.generation` after the change.
    """

    action: str
    generation: int


def api_client(kubeconfig: Path | None = None) -> ApiClient:
    """A client for the cluster: `kubeconfig` if given, else $KUBECONFIG or ~/.kube/config, else the
    pod's service account when running inside a cluster.

    Raises:
        P2MError: If no configuration is found or it cannot be read.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    if kubeconfig is None and _in_cluster():
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    if kubeconfig is not None and not Path(kubeconfig).is_file():
        raise P2MError(f"kubeconfig {kubeconfig} does not exist")
    try:
        return config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None)
    except (ConfigException, OSError) as error:
        raise P2MError(
            f"no usable Kubernetes configuration ({error}): set KUBECONFIG or pass --kubeconfig, "
            "or use --dry-run to print the manifests"
        ) from None


def current_namespace(kubeconfig: Path | None = None) -> str:
    """The namespace of the current context (or of the pod's service account); "default" if unset."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    if kubeconfig is None and _in_cluster() and IN_CLUSTER_NAMESPACE_FILE.is_file():
        return IN_CLUSTER_NAMESPACE_FILE.read_text().strip()
    try:
        _, active = config.list_kube_config_contexts(config_file=str(kubeconfig) if kubeconfig else None)
    except (ConfigException, OSError):
        return "default"
    return active.get("context", {}).get("namespace") or "default"


def apply(api: ApiClient, manifest: dict[str, Any], patch: dict[str, Any] | None = None) -> Applied:
    """Create the object from `manifest`, or merge-patch it with `patch` (default: the manifest).

    A merge patch changes only the fields it names; a field set to None is removed.

    Raises:
        P2MError: On a refusal (permission, validation) or an unreachable API, naming the object.
    """
    kind = manifest["kind"]
    version, plural = _RESOURCES[kind]
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    objects = _objects(api)
    with _api_errors("get", kind, namespace, name, api):
        found = _get(objects, version, namespace, plural, name)
    if found is None:
        with _api_errors("create", kind, namespace, name, api):
            created = objects.create_namespaced_custom_object(
                _GROUP, version, namespace, plural, manifest, _request_timeout=_timeouts()
            )
        return Applied("created", _generation(created))
    with _api_errors("patch", kind, namespace, name, api):
        body = manifest if patch is None else patch
        patched = objects.patch_namespaced_custom_object(
            _GROUP, version, namespace, plural, name, body, _request_timeout=_timeouts()
        )
    return Applied("patched", _generation(patched))


def get_inference_service(api: ApiClient, name: str, namespace: str) -> dict[str, Any] | None:
    """The InferenceService `namespace/name` as the API server stores it; None when there is none.

    Raises:
        P2MError: On a refusal or an unreachable API (see `apply`).
    """
    version, plural = _RESOURCES["InferenceService"]
    with _api_errors("get", "InferenceService", namespace, name, api):
        return _get(_objects(api), version, namespace, plural, name)


def list_inference_services(api: ApiClient, namespace: str, label_selector: str) -> list[dict[str, Any]]:
    """The namespace's InferenceServices whose labels match `label_selector`."""
    version, plural = _RESOURCES["InferenceService"]
    with _api_errors("list", "InferenceService", namespace, "", api):
        found = _objects(api).list_namespaced_custom_object(
            _GROUP, version, namespace, plural, label_selector=label_selector, _request_timeout=_timeouts()
        )
    return list(found.get("items", []))


def patch_inference_service(api: ApiClient, name: str, namespace: str, patch: dict[str, Any]) -> int:
    """Merge-patch the InferenceService (a None value removes a field); returns its new generation."""
    version, plural = _RESOURCES["InferenceService"]
    with _api_errors("patch", "InferenceService", namespace, name, api):
        patched = _objects(api).patch_namespaced_custom_object(
            _GROUP, version, namespace, plural, name, patch, _request_timeout=_timeouts()
        )
    return _generation(patched)


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
    version, plural = _RESOURCES["InferenceService"]
    objects = _objects(api)
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    wait_s = min(FIRST_POLL_S, poll_s)
    while True:
        with _api_errors("get", "InferenceService", namespace, name, api):
            found = _get(objects, version, namespace, plural, name) or {}
        status = found.get("status") or {}
        if _is_ready(status, generation):
            # status.url is the external URL; address.url the in-cluster one, set when there is no ingress.
            return status.get("url") or (status.get("address") or {}).get("url") or ""
        if time.monotonic() + wait_s > deadline:
            raise P2MError(
                f"InferenceService {namespace}/{name} not Ready after {timeout_s:g} s "
                f"({_why_not(status, generation)}); "
                f"see kubectl describe inferenceservice {name} -n {namespace}"
            )
        time.sleep(wait_s)
        wait_s = min(2 * wait_s, poll_s)


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _objects(api: ApiClient) -> CustomObjectsApi:
    from kubernetes.client import CustomObjectsApi

    return CustomObjectsApi(api)


def _get(objects: CustomObjectsApi, version: str, namespace: str, plural: str, name: str) -> Any:
    from kubernetes.client.exceptions import ApiException

    try:
        return objects.get_namespaced_custom_object(
            _GROUP, version, namespace, plural, name, _request_timeout=_timeouts()
        )
    except ApiException as error:
        if error.status == 404 and _reason(error) == "NotFound" and _names_object(error, name):
            return None
        raise


def _timeouts() -> tuple[float, float]:
    # (connect, read): the client takes a lone number only if it is an int, and ignores a float.
    return (REQUEST_TIMEOUT_S, REQUEST_TIMEOUT_S)


def _generation(found: dict[str, Any]) -> int:
    return int(found.get("metadata", {}).get("generation", 1))


def _is_ready(status: dict[str, Any], generation: int) -> bool:
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


@contextmanager
def _api_errors(verb: str, kind: str, namespace: str, name: str, api: ApiClient) -> Iterator[None]:
    """Turn the client's errors inside the block, a `verb` request on one object, into one-line P2MErrors."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError, ReadTimeoutError

    try:
        yield
    except ApiException as error:
        raise _refusal(error, verb, kind, namespace, name, api.configuration.host) from None
    except HTTPError as error:
        # After the client's retries the useful part is the last connection error, not the URL list.
        reason = getattr(error, "reason", None) or error
        if isinstance(reason, ReadTimeoutError):
            raise P2MError(
                f"the Kubernetes API at {api.configuration.host} took the connection but did not answer "
                f"within {REQUEST_TIMEOUT_S:g} s"
            ) from None
        raise P2MError(f"cannot reach the Kubernetes API at {api.configuration.host}: {reason}") from None


def _refusal(error: ApiException, verb: str, kind: str, namespace: str, name: str, api_host: str) -> P2MError:
    version, plural = _RESOURCES[kind]
    resource = f"{plural}.{_GROUP}"
    status = _status(error)
    message = status.get("message") or error.reason
    if error.status == 401:
        return P2MError(
            f"the Kubernetes API at {api_host} did not accept the credentials ({message}): "
            "check the kubeconfig's user or token"
        )
    if error.status == 403:
        return P2MError(
            f"permission denied: cannot {verb} {resource} in namespace {namespace} ({message}); "
            f"the account needs get, create and patch on {resource} there (manifests/rbac.yaml grants them)"
        )
    if error.status == 404 and (status.get("details") or {}).get("kind") == "namespaces":
        return P2MError(f"namespace {namespace} does not exist: create it or pass another --namespace")
    if error.status == 404 and not (status.get("details") or {}).get("name"):
        # A 404 naming no object is about the URL itself, which every namespace has once the CRD is
        # installed (a missing object is "not there yet", see `_get`).
        return P2MError(
            f"KServe is not installed in this cluster: the API server does not serve {resource}/{version} "
            f"(kubectl get crd {resource})"
        )
    return P2MError(f"the Kubernetes API refused {kind} {namespace}/{name} ({error.status}): {message}")


def _status(error: ApiException) -> dict[str, Any]:
    import json

    try:
        return json.loads(error.body or "{}")
    except (TypeError, ValueError):
        return {}


def _reason(error: ApiException) -> str:
    return _status(error).get("reason", "")


def _names_object(error: ApiException, name: str) -> bool:
    """Whether a 404 is about the object itself, not about its kind missing from the cluster."""
    return (_status(error).get("details") or {}).get("name") == name
