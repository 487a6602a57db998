"""The Kubernetes API as p2m uses it: a client, the custom objects it manages, one-line errors.

Each failure becomes a one-line P2MError that says what to fix: no configuration, credentials not
accepted, no permission (naming the verb and resource), no such namespace, a kind the cluster does
not serve (the project that defines it is not installed), the API unreachable or silent.
KServe's objects (`p2m_lib.serve.kube`) and Kubeflow Trainer's TrainJobs (`p2m_lib.train.trainjob`)
go through here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from p2m_lib.errors import P2MError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# One request's longest wait for an answer: an API server, or a proxy in front of it, that takes the
# connection and never answers must not hang a step (the client retries a GET 3 times).
REQUEST_TIMEOUT_S = 30.0
# A controller often answers a change within a second: look again soon, then less and less often.
FIRST_POLL_S = 0.1


@dataclass(frozen=True)
class CustomKind:
    """A kind of custom object p2m manages, and what a user needs to know when it is refused.

    Attributes:
        kind: Its `kind`, e.g. "InferenceService".
        group: Its API group, e.g. "serving.kserve.io".
        version: The version p2m writes, e.g. "v1beta1".
        plural: Its name in URLs, e.g. "inferenceservices".
        project: What installs its CRD, named when the cluster does not serve it (e.g. "KServe").
        verbs: The verbs p2m needs on it, as a 403's message names them (manifests/rbac.yaml).
    """

    kind: str
    group: str
    version: str
    plural: str
    project: str
    verbs: str

    @property
    def resource(self) -> str:
        """`plural.group`, as RBAC rules and `kubectl get crd` name it."""
        return f"{self.plural}.{self.group}"


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


def read_object(api: ApiClient, kind: CustomKind, namespace: str, name: str) -> dict[str, Any] | None:
    """The object as the server has it; None if there is none of that name.

    Raises:
        P2MError: On a refusal or an unreachable API.
    """
    from kubernetes.client.exceptions import ApiException

    with api_errors("get", kind, namespace, name, api):
        try:
            return _objects(api).get_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, name, _request_timeout=_timeouts()
            )
        except ApiException as error:
            if error.status == 404 and _reason(error) == "NotFound" and _names_object(error, name):
                return None
            raise


def create_object(api: ApiClient, kind: CustomKind, manifest: dict[str, Any]) -> dict[str, Any]:
    """Create `manifest` in its namespace; the server's copy.

    Raises:
        P2MError: On a refusal (permission, validation) or an unreachable API, naming the object.
    """
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    with api_errors("create", kind, namespace, name, api):
        return _objects(api).create_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, manifest, _request_timeout=_timeouts()
        )


def list_objects(
    api: ApiClient, kind: CustomKind, namespace: str, label_selector: str
) -> list[dict[str, Any]]:
    """The namespace's objects of `kind` whose labels match `label_selector`.

    Raises:
        P2MError: On a refusal or an unreachable API.
    """
    with api_errors("list", kind, namespace, "", api):
        found = _objects(api).list_namespaced_custom_object(
            kind.group,
            kind.version,
            namespace,
            kind.plural,
            label_selector=label_selector,
            _request_timeout=_timeouts(),
        )
    return list(found.get("items", []))


def patch_object(
    api: ApiClient, kind: CustomKind, namespace: str, name: str, patch: dict[str, Any]
) -> dict[str, Any]:
    """Merge-patch the object (a field set to None is removed); the server's copy.

    Raises:
        P2MError: On a refusal or an unreachable API, naming the object.
    """
    with api_errors("patch", kind, namespace, name, api):
        return _objects(api).patch_namespaced_custom_object(
            kind.group, kind.version, namespace, kind.plural, name, patch, _request_timeout=_timeouts()
        )


def delete_object(api: ApiClient, kind: CustomKind, namespace: str, name: str) -> None:
    """Delete the object; the cluster's garbage collector then deletes what it owns.

    Raises:
        P2MError: On a refusal or an unreachable API, naming the object.
    """
    with api_errors("delete", kind, namespace, name, api):
        _objects(api).delete_namespaced_custom_object(
            kind.group,
            kind.version,
            namespace,
            kind.plural,
            name,
            _request_timeout=_timeouts(),
        )


def object_generation(found: dict[str, Any]) -> int:
    """The object's `metadata.generation` (1 for a new one)."""
    return int(found.get("metadata", {}).get("generation", 1))


def poll(
    read: Callable[[], T], finished: Callable[[T], bool], timeout_s: float, poll_s: float
) -> tuple[T, bool]:
    """Call `read` until `finished` says yes of its value or `timeout_s` has passed.

    The first read comes at once, the next after 0.1 s, and each wait doubles up to `poll_s`.

    Returns:
        The last value read, and whether it was finished.
    """
    deadline = time.monotonic() + timeout_s
    wait_s = min(FIRST_POLL_S, poll_s)
    while True:
        value = read()
        if finished(value):
            return value, True
        if time.monotonic() + wait_s > deadline:
            return value, False
        time.sleep(wait_s)
        wait_s = min(2 * wait_s, poll_s)


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _objects(api: ApiClient) -> CustomObjectsApi:
    from kubernetes.client import CustomObjectsApi

    return CustomObjectsApi(api)


def _timeouts() -> tuple[float, float]:
    # (connect, read): the client takes a lone number only if it is an int, and ignores a float.
    return (REQUEST_TIMEOUT_S, REQUEST_TIMEOUT_S)


@contextmanager
def api_errors(verb: str, kind: CustomKind, namespace: str, name: str, api: ApiClient) -> Iterator[None]:
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


def _refusal(
    error: ApiException, verb: str, kind: CustomKind, namespace: str, name: str, api_host: str
) -> P2MError:
    status = _status(error)
    message = status.get("message") or error.reason
    if error.status == 401:
        return P2MError(
            f"the Kubernetes API at {api_host} did not accept the credentials ({message}): "
            "check the kubeconfig's user or token"
        )
    if error.status == 403:
        return P2MError(
            f"permission denied: cannot {verb} {kind.resource} in namespace {namespace} ({message}); "
            f"the account needs {kind.verbs} on {kind.resource} there (manifests/rbac.yaml grants them)"
        )
    if error.status == 404 and (status.get("details") or {}).get("kind") == "namespaces":
        return P2MError(f"namespace {namespace} does not exist: create it or pass another --namespace")
    if error.status == 404 and not (status.get("details") or {}).get("name"):
        # A 404 naming no object is about the URL itself, which every namespace has once the CRD is
        # installed (a missing object is "not there yet", see `read_object`).
        return P2MError(
            f"{kind.project} is not installed in this cluster: the API server does not serve "
            f"{kind.resource}/{kind.version} (kubectl get crd {kind.resource})"
        )
    return P2MError(f"the Kubernetes API refused {kind.kind} {namespace}/{name} ({error.status}): {message}")


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
