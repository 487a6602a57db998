"""A servable tiny model folder, the real KServe server on loopback serving it, and what deploy tests
need: moto's S3 server and a namespace on the real Kubernetes API server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from kube_server import KubeServer
from minio import Minio
from serve.settings import (
    MAX_INPUT_CHARS,
    MAX_INSTANCES,
    MAX_NEW_TOKENS_LIMIT,
    MODEL_NAME,
    SERVER_BATCH_SIZE,
    SERVER_WAIT_MS,
    TEMPLATE,
)
from store.s3_server import CREDENTIALS, free_port, s3_env, s3_server

if TYPE_CHECKING:
    from kubernetes.client import CustomObjectsApi

START_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def served_model_dir(tiny_causal_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama as a model folder p2m training would write: template, greedy generation
    settings (6 new tokens), training length 64.

    Its weights are scaled up fivefold: the random model as is answers every input with blank
    lines (empty answers), so equal answers would prove nothing; scaled, its greedy answers are
    different words for different inputs.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(tiny_causal_lm_dir)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" not in name:
                parameter.mul_(5)
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm_dir)
    tokenizer.model_max_length = 64
    model.generation_config = GenerationConfig(
        max_new_tokens=6,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out = tmp_path_factory.mktemp("served-model")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    TEMPLATE.save(out)
    return out


@dataclass
class Server:
    """A running `python -m p2m_lib.serve` process."""

    url: str
    process: subprocess.Popen
    log: Path


@pytest.fixture(scope="module")
def server(served_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real KServe ModelServer serving `served_model_dir` as "tiny" on 127.0.0.1."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable, "-m", "p2m_lib.serve", str(served_model_dir),
        "--name", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port),
        "--max-batch-size", str(SERVER_BATCH_SIZE), "--max-wait-ms", str(SERVER_WAIT_MS),
        "--max-instances", str(MAX_INSTANCES), "--max-input-chars", str(MAX_INPUT_CHARS),
        "--max-new-tokens-limit", str(MAX_NEW_TOKENS_LIMIT),
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy())
    running = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_ready(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {server.process.returncode}:\n{server.log.read_text()}"
            )
        try:
            if httpx.get(f"{server.url}/v2/health/ready", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {START_TIMEOUT_S} s:\n{server.log.read_text()}")


@pytest.fixture(scope="session")
def retrained_model_dir(served_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`served_model_dir` after more training: the same files, one weight changed (another digest)."""
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("retrained-model")
    for path in served_model_dir.iterdir():
        shutil.copy(path, out / path.name)
    weights = load_file(out / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 0.01
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    return out


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """moto's S3 server on loopback, for the tests of one module."""
    with s3_server() as url:
        yield url


@pytest.fixture
def s3(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Minio:
    """The S3 settings in the environment, and a client to look at what was stored."""
    for name, value in s3_env(s3_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return Minio(
        s3_url.removeprefix("http://"),
        CREDENTIALS["AWS_ACCESS_KEY_ID"],
        CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        secure=False,
    )


@dataclass(frozen=True)
class Cluster:
    """A fresh namespace on the real API server, and an admin kubeconfig whose context is it."""

    server: KubeServer
    namespace: str
    kubeconfig: Path

    def get(self, plural: str, name: str) -> dict[str, Any]:
        """The KServe object `plural/name` of the namespace, as the server stores it."""
        version = "v1alpha1" if plural == "servingruntimes" else "v1beta1"
        return self._objects().get_namespaced_custom_object(
            "serving.kserve.io", version, self.namespace, plural, name
        )

    def names(self, plural: str) -> list[str]:
        """The names of the namespace's KServe objects of one kind."""
        version = "v1alpha1" if plural == "servingruntimes" else "v1beta1"
        found = self._objects().list_namespaced_custom_object(
            "serving.kserve.io", version, self.namespace, plural
        )
        return sorted(item["metadata"]["name"] for item in found["items"])

    def _objects(self) -> CustomObjectsApi:
        from kubernetes.client import CustomObjectsApi

        return CustomObjectsApi(self.server.client())


@pytest.fixture
def cluster(kube_api: KubeServer, kube_namespace: str, tmp_path: Path) -> Cluster:
    """The real API server with KServe's CRDs, a fresh namespace, an admin kubeconfig for it."""
    return Cluster(
        kube_api, kube_namespace, kube_api.write_kubeconfig(tmp_path / "kubeconfig", kube_namespace)
    )
