"""Shared fixtures: tiny models built in the test from configs, with the real SmolLM2 tokenizer."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from kube_server import (
    Binaries,
    KubeServer,
    KubeUnavailable,
    apiserver,
    create,
    etcd,
    find_binaries,
    install_crds,
    kserve_crds,
    torch_runtime,
    trainer_crds,
)
from openai_server import OpenAICompatServer, uppercase_teacher

# No test reaches the network: every Hugging Face loader must find things on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Environment a developer may have set must not leak into tests.
for _var in ("P2M_LLM_BASE_URL", "P2M_LLM_MODEL", "OPENAI_API_KEY"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SmolLM2 tokenizer read from the embedded GGUF file, saved as a normal folder."""
    from transformers import AutoTokenizer

    from p2m_lib.embedded import embedded_model

    gguf = embedded_model("smollm2-135m").chunk_path(1)
    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_causal_lm_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    """A randomly initialised two-layer Llama with the SmolLM2 tokenizer, as a HF folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_t5_dir(smollm2_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer T5 with the SmolLM2 tokenizer: its decoder starts from the pad (= EOS) id."""
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    out = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def teacher_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAICompatServer]:
    """The uppercase teacher on loopback, named by the environment as a user's endpoint would be."""
    with OpenAICompatServer(reply=uppercase_teacher) as server:
        monkeypatch.setenv("P2M_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("P2M_LLM_MODEL", "teacher-model")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
        yield server


# A real Kubernetes API server for the tests marked `kube`: see tests/kube_server.py.
REQUIRE_KUBE = "P2M_REQUIRE_KUBE"
T = TypeVar("T")


@pytest.fixture(scope="session")
def kube_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Binaries, str]]:
    """The binaries and a running etcd's URL; a skip (a failure with P2M_REQUIRE_KUBE=1) without them."""
    work = tmp_path_factory.mktemp("kube")
    binaries = _available(lambda: find_binaries(work))
    with etcd(binaries.etcd, work) as url:
        yield binaries, url


@pytest.fixture(scope="session")
def kube_api(
    kube_etcd: tuple[Binaries, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeServer]:
    """kube-apiserver with KServe's and Kubeflow Trainer's CRDs Established and Trainer's
    torch-distributed runtime created, for the whole session."""
    binaries, etcd_url = kube_etcd
    crds = _available(lambda: kserve_crds() + trainer_crds())
    runtime = _available(torch_runtime)
    with apiserver(binaries.apiserver, etcd_url, tmp_path_factory.mktemp("apiserver")) as server:
        install_crds(server, crds)
        create(server, runtime, namespace="")
        yield server


@pytest.fixture(scope="session")
def kube_api_without_kserve(
    kube_etcd: tuple[Binaries, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeServer]:
    """A second API server, on the same etcd under another key prefix: a cluster that never had KServe
    or Kubeflow Trainer."""
    binaries, etcd_url = kube_etcd
    with apiserver(binaries.apiserver, etcd_url, tmp_path_factory.mktemp("bare"), "/bare") as server:
        yield server


@pytest.fixture
def kube_namespace(kube_api: KubeServer) -> str:
    """A fresh namespace on `kube_api` (deleted ones stay Terminating there: no controller ends them)."""
    from kubernetes.client import CoreV1Api

    name = f"t-{uuid.uuid4().hex[:10]}"
    CoreV1Api(kube_api.client()).create_namespace({"metadata": {"name": name}})
    return name


def _available(find: Callable[[], T]) -> T:
    """What `find` finds; else skip the test, or fail it when P2M_REQUIRE_KUBE=1 (CI)."""
    try:
        return find()
    except KubeUnavailable as why:
        reason = str(why)  # reported outside the handler: not as an error raised while handling another
    if os.environ.get(REQUIRE_KUBE) == "1":
        pytest.fail(f"{REQUIRE_KUBE}=1 but the Kubernetes API server cannot start: {reason}", pytrace=False)
    pytest.skip(f"no Kubernetes API server here ({reason}); see tests/kube_server.py")
