"""A stand-in for what sits in front of a Kubernetes API server: an HTTP server on loopback that
answers every request with one fixed status, content type and body.

Only for what the real API server of tests/kube_server.py cannot stage: answers that are not the
API server's own (a proxy's or load balancer's error page, an empty body); `write_kubeconfig` also
points a client at a port where nothing answers. Everything the API
server itself does (KServe's schema, generations, status, RBAC, missing CRDs) is tested against
the real one.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from loopback import LoopbackServer


class FakeKube(LoopbackServer):
    """The canned server.

    Attributes:
        calls: (method, path) of every request, in order.
    """

    def __init__(self, status: int, body: bytes, content_type: str = "text/html") -> None:
        self.calls: list[tuple[str, str]] = []
        self._answer = (status, body, content_type)
        super().__init__(_handler(self))

    def write_kubeconfig(self, path: Path, namespace: str = "team-a") -> Path:
        """A kubeconfig whose current context points at this server."""
        return write_kubeconfig(path, self.url, namespace)


def write_kubeconfig(path: Path, url: str, namespace: str = "team-a") -> Path:
    """A kubeconfig whose current context is the server at `url` (bearer token, plain HTTP)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "fake-token"}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": namespace}}
        ],
        "current-context": "fake",
    }
    path.write_text(json.dumps(config))
    return path


def _handler(fake: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self._reply()

        def do_PATCH(self) -> None:
            self._reply()

        def _reply(self) -> None:
            fake.calls.append((self.command, self.path))
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, body, content_type = fake._answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `calls` instead."""

    return Handler
