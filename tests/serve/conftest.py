"""A servable tiny model folder, and the real KServe server on loopback serving it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from serve.settings import (
    MAX_INPUT_CHARS,
    MAX_INSTANCES,
    MAX_NEW_TOKENS_LIMIT,
    MODEL_NAME,
    SERVER_BATCH_SIZE,
    SERVER_WAIT_MS,
    TEMPLATE,
)
from store.s3_server import free_port

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
