"""A real S3-protocol server (moto's `moto_server`) in its own process on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

START_TIMEOUT_S = 30.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-access-key", "AWS_SECRET_ACCESS_KEY": "test-secret-key-0123456789"}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def s3_server(check_credentials: bool = False) -> Iterator[str]:
    """Run moto's S3 server until the block ends; yields its endpoint URL.

    Args:
        check_credentials: Authenticate requests (moto then knows no key, so every one is refused).
    """
    port = free_port()
    env = os.environ | ({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if check_credentials else {})
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_env(url: str) -> dict[str, str]:
    """The environment `S3Settings.from_env` reads, pointing at the server at `url`."""
    return {"AWS_ENDPOINT_URL": url, **CREDENTIALS}


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {url} within {START_TIMEOUT_S} s")
