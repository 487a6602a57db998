"""A loopback OpenAI-compatible chat server for tests: scripted replies, injected errors, recorded requests.

Example:
    def reply(request):
        return [f"answer {i}" for i in range(request.get("n", 1))]

    with OpenAICompatServer(reply=reply, api_key="sk-test") as server:
        teacher = OpenAITeacher(server.base_url, "test-model", "sk-test")
        ...
        assert server.requests[0]["body"]["n"] == 3

`reply` receives the parsed JSON body of each POST /v1/chat/completions and returns either the
texts of the choices (the server wraps them in a proper `chat.completion` with a usage block that
counts whitespace-separated words as tokens) or `(status_code, body)` to answer with anything
else: an error, a body with no choices, a string that is not JSON.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import LoopbackServer

Reply = Callable[[dict[str, Any]], "list[str] | tuple[int, dict[str, Any] | str]"]
DEFAULT_MODEL = "test-model"


def echo_reply(request: dict[str, Any]) -> list[str]:
    """Answer every choice with the content of the last message."""
    content = request["messages"][-1]["content"] if request.get("messages") else ""
    return [content] * int(request.get("n") or 1)


UPPERCASE_WORDS = [f"word{n}" for n in range(200)]


def uppercase_teacher(request: dict[str, Any]) -> list[str]:
    """A teacher of the task "write the word in capital letters" that continues the few-shot pattern:
    a new word for an input request (ending "Input:"), the input's upper case for an output request."""
    prompt = request["messages"][-1]["content"]
    n = request.get("n", 1)
    if prompt.endswith("Input:"):
        uppercase_teacher.served += 1  # type: ignore[attr-defined]
        return [f" {UPPERCASE_WORDS[uppercase_teacher.served % len(UPPERCASE_WORDS)]}"] * n  # type: ignore[attr-defined]
    word = re.findall(r"Input: (.*)\nOutput:$", prompt)[0]
    return [f" {word.upper()}"] * n


uppercase_teacher.served = 0  # type: ignore[attr-defined]


def count_tokens(text: str) -> int:
    """Tokens as this server counts them: whitespace-separated words."""
    return len(text.split())


def chat_completion(request: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """Build the `chat.completion` body that answers `request` with `texts`, one choice each."""
    prompt_tokens = sum(count_tokens(str(m.get("content") or "")) for m in request.get("messages", []))
    completion_tokens = sum(count_tokens(text) for text in texts)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", DEFAULT_MODEL),
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
            for index, text in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(message: str, code: str) -> dict[str, Any]:
    """An error body shaped like OpenAI's."""
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


class OpenAICompatServer(LoopbackServer):
    """An OpenAI-compatible HTTP server on 127.0.0.1, serving from a thread inside `with`.

    Attributes:
        requests: Every request received, in order of arrival: dicts with `method`, `path`,
            `authorization` (the Authorization header or None), `headers` and `body` (parsed JSON,
            or None when the body was not JSON).
    """

    def __init__(
        self,
        reply: Reply = echo_reply,
        model: str | None = None,
        api_key: str | None = None,
        error_retry_after_ms: int = 1,
    ) -> None:
        """Listen on a free loopback port; requests are answered inside `with`.

        Args:
            reply: Answers each chat completion request (see the module docstring).
            model: When given, requests for any other model get a 404 like OpenAI's; when None, any
                model is served. GET /v1/models lists it (or "test-model").
            api_key: When given, requests without `Authorization: Bearer <api_key>` get a 401.
            error_retry_after_ms: Sent as `retry-after-ms` with every error reply so the openai
                client's retries wait milliseconds instead of its default backoff of seconds.
        """
        self.reply = reply
        self.model = model
        self.api_key = api_key
        self.error_retry_after_ms = error_retry_after_ms
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(_handler_class(self))

    @property
    def base_url(self) -> str:
        """The base URL an OpenAI client takes, ending in /v1."""
        return f"{self.url}/v1"

    def record(self, entry: dict[str, Any]) -> None:
        """Append one request to `requests` (handlers run on several threads)."""
        with self._lock:
            self.requests.append(entry)

    def answer_chat(self, request: dict[str, Any] | None, authorization: str | None) -> tuple[int, Any]:
        """The status and body that answer one chat completion request."""
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return 401, error_body("Incorrect API key provided.", "invalid_api_key")
        if request is None:
            return 400, error_body("The request body is not valid JSON.", "invalid_json")
        if self.model is not None and request.get("model") != self.model:
            return 404, error_body(f"The model `{request.get('model')}` does not exist.", "model_not_found")
        try:
            result = self.reply(request)
        except Exception as exc:  # a failing reply script must show up in the test, not hang it
            return 500, error_body(f"reply raised {exc!r}", "reply_failed")
        if isinstance(result, tuple):
            return result
        return 200, chat_completion(request, list(result))

    def models_body(self) -> dict[str, Any]:
        """The body of GET /v1/models."""
        model = {"id": self.model or DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "p2m-tests"}
        return {"object": "list", "data": [model]}


def _handler_class(server: OpenAICompatServer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to `server`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            server.record(self._entry(None))
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, server.models_body())
            else:
                self._send(404, error_body(f"no route GET {self.path}", "not_found"))

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = _parse_json(raw)
            server.record(self._entry(body))
            if self.path.rstrip("/") == "/v1/chat/completions":
                self._send(*server.answer_chat(body, self.headers.get("Authorization")))
            else:
                self._send(404, error_body(f"no route POST {self.path}", "not_found"))

        def _entry(self, body: dict[str, Any] | None) -> dict[str, Any]:
            return {
                "method": self.command,
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "headers": dict(self.headers.items()),
                "body": body,
            }

        def _send(self, status: int, body: Any) -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status >= 400:
                self.send_header("retry-after-ms", str(server.error_retry_after_ms))
            self.end_headers()
            # A client that gave up (a timeout test) leaves nothing to answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet: requests are in `server.requests`."""

    return Handler


def _parse_json(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(raw or b"null")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
