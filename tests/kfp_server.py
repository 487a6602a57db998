"""A loopback fake of the KFP v2beta1 REST API: the endpoints `kfp.Client` calls to file runs.

No KFP backend runs here (it needs a cluster, MySQL and Argo), so the tests submit to this server
instead: healthz, experiments (list with a display_name filter, create), runs (create, list by
experiment and display_name, newest first) and recurring runs (create, list). It keeps what it was
sent in memory and records every request; a test moves a run to another state with `set_state`.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback import LoopbackServer

PREFIX = "/apis/v2beta1/"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class FakeKFP(LoopbackServer):
    """The server's state: experiments, runs and recurring runs by id, and every request."""

    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        super().__init__(_handler(self))

    def set_state(self, run_id: str, state: str) -> None:
        self.runs[run_id]["state"] = state

    def created(self, kind: str) -> list[dict[str, Any]]:
        """The bodies of the create requests of `kind` ("runs", "recurringruns"), in order."""
        return [r.body for r in self.requests if r.method == "POST" and r.path == kind and r.body is not None]

    def answer(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None) -> Any:
        if (method, path) == ("GET", "healthz"):
            return {"multi_user": False}
        collections = {
            "experiments": self.experiments,
            "runs": self.runs,
            "recurringruns": self.recurring_runs,
        }
        if path not in collections:
            return None
        items = collections[path]
        if method == "POST":
            return self._create(path, items, body or {})
        listed = [item for item in items.values() if _matches(item, query)]
        if query.get("sort_by") == "created_at desc":
            listed.reverse()
        key = {"experiments": "experiments", "runs": "runs", "recurringruns": "recurringRuns"}[path]
        return {key: listed, "total_size": len(listed)} if listed else {}

    def _create(self, path: str, items: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        number = next(self._ids)
        id_key = {"experiments": "experiment_id", "runs": "run_id", "recurringruns": "recurring_run_id"}[path]
        item = {**body, id_key: f"{path}-{number}", "created_at": f"2026-12-01T00:00:{number:02d}Z"}
        if path == "runs":
            item["state"] = "PENDING"
        items[item[id_key]] = item
        return item


def _matches(item: dict[str, Any], query: dict[str, str]) -> bool:
    if "experiment_id" in query and item.get("experiment_id") != query["experiment_id"]:
        return False
    predicates = json.loads(query["filter"])["predicates"] if "filter" in query else []
    for predicate in predicates:
        assert predicate["operation"] in ("EQUALS", 1), predicate
        wanted = predicate.get("stringValue", predicate.get("string_value"))
        if item.get(predicate["key"]) != wanted:
            return False
    return True


def _handler(fake: FakeKFP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def _reply(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            path = url.path.removeprefix(PREFIX)
            fake.requests.append(Request(method, path, query, body))
            answer = fake.answer(method, path, query, body) if url.path.startswith(PREFIX) else None
            payload = json.dumps(answer if answer is not None else {"error": "not found"}).encode()
            self.send_response(200 if answer is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
