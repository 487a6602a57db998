"""A small fake Kubernetes API server on loopback: the custom-object routes a deployment calls.

It stores KServe objects in memory, answers GET, POST (create) and PATCH (JSON merge patch) on
`/apis/serving.kserve.io/<version>/namespaces/<ns>/<plural>[/<name>]`, bumps
`metadata.generation` on every change, and plays the KServe controller by reporting an
InferenceService Ready for its current generation after a number of reads. Modes simulate a
forbidding RBAC and a cluster without KServe.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_ROUTE = re.compile(
    r"^/apis/serving\.kserve\.io/(v1alpha1|v1beta1)/namespaces/([^/]+)/([a-z]+)(?:/([^/?]+))?"
)


class FakeKube:
    """The fake API server.

    Attributes:
        objects: Stored objects by (plural, namespace, name).
        calls: (method, path) of every request, in order.
        ready_after_reads: Reads of an InferenceService before it reports Ready; None: never.
        forbidden: Answer every request with 403.
        kserve_installed: When False, KServe's routes answer 404 like a cluster without the CRDs.
    """

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.ready_after_reads: int | None = 1
        self.forbidden = False
        self.kserve_installed = True
        self._reads: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKube:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def write_kubeconfig(self, path: Path, namespace: str = "team-a") -> Path:
        """A kubeconfig whose current context points at this server (bearer token, plain HTTP)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    def handle(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer to one request."""
        with self._lock:
            self.calls.append((method, path))
            if self.forbidden:
                return _status(
                    403, "Forbidden", f'{method} {path} is forbidden: User "tester" cannot do that'
                )
            match = _ROUTE.match(path)
            if not match or not self.kserve_installed:
                return _status(404, "NotFound", "the server could not find the requested resource")
            _, namespace, plural, name = match.groups()
            return self._route(method, plural, namespace, name, body)

    def _route(
        self, method: str, plural: str, namespace: str, name: str | None, body: Any
    ) -> tuple[int, dict]:
        if method == "POST" and name is None:
            return self._create(plural, namespace, body)
        key = (plural, namespace, name or "")
        if key not in self.objects:
            return _status(404, "NotFound", f'{plural} "{name}" not found', {"name": name, "kind": plural})
        if method == "GET":
            return 200, self._read(key)
        if method == "PATCH":
            return 200, self._patch(key, body)
        return _status(405, "MethodNotAllowed", f"{method} is not served here")

    def _create(self, plural: str, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = (plural, namespace, body["metadata"]["name"])
        if key in self.objects:
            return _status(409, "AlreadyExists", f'{plural} "{key[2]}" already exists')
        stored = copy.deepcopy(body)
        stored["metadata"]["generation"] = 1
        self.objects[key] = stored
        return 201, copy.deepcopy(stored)

    def _patch(self, key: tuple[str, str, str], patch: dict[str, Any]) -> dict[str, Any]:
        stored = _merge_patch(self.objects[key], patch)
        stored["metadata"]["generation"] = self.objects[key]["metadata"]["generation"] + 1
        self.objects[key] = stored
        self._reads[key] = 0
        return copy.deepcopy(stored)

    def _read(self, key: tuple[str, str, str]) -> dict[str, Any]:
        stored = self.objects[key]
        if key[0] == "inferenceservices":
            self._reads[key] = self._reads.get(key, 0) + 1
            if self.ready_after_reads is not None and self._reads[key] > self.ready_after_reads:
                stored["status"] = _ready_status(stored, key)
        return copy.deepcopy(stored)


def _ready_status(stored: dict[str, Any], key: tuple[str, str, str]) -> dict[str, Any]:
    _, namespace, name = key
    return {
        "observedGeneration": stored["metadata"]["generation"],
        "url": f"http://{name}.{namespace}.example.com",
        "conditions": [{"type": "Ready", "status": "True"}],
    }


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = _merge_patch(result.get(name), value)
    return result


def _status(code: int, reason: str, message: str, details: dict | None = None) -> tuple[int, dict[str, Any]]:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason}
    return code, status | ({"details": details} if details else {}) | {"code": code}


def _handler(fake: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(None)

        def do_POST(self) -> None:
            self._answer(self._body())

        def do_PATCH(self) -> None:
            self._answer(self._body())

        def _body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")

        def _answer(self, body: Any) -> None:
            code, answer = fake.handle(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `calls` instead."""

    return Handler
