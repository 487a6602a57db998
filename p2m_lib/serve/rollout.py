"""Canary rollouts of a served model: what a service serves, and `p2m promote` / `p2m rollback`.

A new model of an existing service goes out as a canary (`canaryTrafficPercent`): KServe splits
the traffic between the new revision and the previous one. Promoting removes the field, so the new
revision takes all traffic; rolling back sets it to 0, so the previous revision takes all traffic
again and the new one none (KServe's own rollback). Either waits until KServe reports the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.kube import api_client, current_namespace
from p2m_lib.serve.kube import (
    get_inference_service,
    is_ready,
    list_inference_services,
    patch_inference_service,
    wait_ready,
)
from p2m_lib.serve.lineage import Lineage
from p2m_lib.serve.manifests import PART_OF

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Revision:
    """One revision's share of the traffic."""

    name: str
    percent: int
    latest: bool


@dataclass(frozen=True)
class ServiceState:
    """What an InferenceService serves, as its spec and KServe's status say.

    Attributes:
        name: The service.
        namespace: Its namespace.
        ready: Whether KServe reports it Ready.
        url: Its URL ("" until KServe sets one).
        traffic: Each revision's share, the latest first.
        lineage: The lineage annotations of the model it was last given; None if it has none.
    """

    name: str
    namespace: str
    ready: bool
    url: str
    traffic: tuple[Revision, ...]
    lineage: Lineage | None

    @property
    def canary(self) -> Revision | None:
        """The latest revision while it shares the traffic with an earlier one (0 < share < 100)."""
        latest = next((revision for revision in self.traffic if revision.latest), None)
        if latest is None or len(self.traffic) < 2 or not 0 < latest.percent < 100:
            return None
        return latest

    @property
    def previous(self) -> Revision | None:
        """The revision the canary shares the traffic with."""
        return next((revision for revision in self.traffic if not revision.latest), None)

    def split(self) -> str:
        """The traffic split in words: "dates-predictor-00002 20%, dates-predictor-00001 80%"."""
        return ", ".join(f"{revision.name} {revision.percent}%" for revision in self.traffic) or "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "namespace": self.namespace,
            "ready": self.ready,
            "url": self.url,
            "traffic": [{"revision": r.name, "percent": r.percent, "latest": r.latest} for r in self.traffic],
        }


def read_state(found: dict[str, Any]) -> ServiceState:
    """The state of an InferenceService object as the API server returns it."""
    metadata, status = found["metadata"], found.get("status") or {}
    traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic") or []
    revisions = sorted(
        (
            Revision(t.get("revisionName", "?"), int(t.get("percent", 0)), bool(t.get("latestRevision")))
            for t in traffic
        ),
        key=lambda revision: not revision.latest,
    )
    # A status that names no generation has not been reconciled yet: not Ready.
    ready = "observedGeneration" in status and is_ready(status, metadata.get("generation", 1))
    return ServiceState(
        name=metadata["name"],
        namespace=metadata["namespace"],
        ready=ready,
        url=status.get("url") or (status.get("address") or {}).get("url") or "",
        traffic=tuple(revisions),
        lineage=Lineage.from_annotations(metadata.get("annotations") or {}),
    )


def service_state(api: ApiClient, name: str, namespace: str) -> ServiceState | None:
    """The state of the InferenceService `namespace/name`; None when there is none."""
    found = get_inference_service(api, name, namespace)
    return None if found is None else read_state(found)


def p2m_services(api: ApiClient, namespace: str) -> list[ServiceState]:
    """Every InferenceService p2m deployed in `namespace` (labelled part-of=p2m), by name."""
    selector = ",".join(f"{key}={value}" for key, value in PART_OF.items())
    states = [read_state(found) for found in list_inference_services(api, namespace, selector)]
    return sorted(states, key=lambda state: state.name)


def promote(
    name: str, namespace: str = "", kubeconfig: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[ServiceState, ServiceState]:
    """Send all traffic to the canary of `name`; returns the state before and after.

    Raises:
        P2MError: No such service, no canary in progress, or KServe not Ready in time.
    """
    return _change(name, namespace, kubeconfig, timeout_s, canary_percent=None)


def rollback(
    name: str, namespace: str = "", kubeconfig: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[ServiceState, ServiceState]:
    """Send all traffic back to the revision before the canary of `name`; returns before and after.

    Raises:
        P2MError: No such service, no canary in progress, or KServe not Ready in time.
    """
    return _change(name, namespace, kubeconfig, timeout_s, canary_percent=0)


def _change(
    name: str, namespace: str, kubeconfig: Path | None, timeout_s: float, canary_percent: int | None
) -> tuple[ServiceState, ServiceState]:
    api = api_client(kubeconfig)
    namespace = namespace or current_namespace(kubeconfig)
    before = service_state(api, name, namespace)
    if before is None:
        raise P2MError(f"no InferenceService {name} in namespace {namespace}: check the name and --namespace")
    if before.canary is None:
        raise P2MError(
            f"no canary in progress on {namespace}/{name}: its traffic goes {before.split()}; "
            "a canary starts when a new model is deployed to an existing service"
        )
    generation = patch_inference_service(
        api, name, namespace, {"spec": {"predictor": {"canaryTrafficPercent": canary_percent}}}
    )
    wait_ready(api, name, namespace, generation, timeout_s)
    after = service_state(api, name, namespace)
    if after is None:
        raise P2MError(f"InferenceService {namespace}/{name} was deleted while its traffic changed")
    return before, after
