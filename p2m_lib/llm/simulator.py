"""A local OpenAI-compatible endpoint that behaves like a busy real one, for tests and benchmarks.

It answers POST /v1/chat/completions the way a hosted LLM does under load:

- capacity: at most `max_concurrency` requests are worked on at once, the others wait in a queue;
  each takes `latency_s` (with jitter) and, when `tokens_per_s` is set, the server as a whole
  produces completion tokens no faster than that;
- a rate limit: beyond `rate_limit_rps` requests a second it answers 429 with `Retry-After`
  (whole seconds, as HTTP says) and `retry-after-ms` (what OpenAI also sends);
- faults, at random (`fault_rate`) or on given arrivals (`fault_schedule`): "500" (an error after
  the work), "timeout" (no answer until the client gives up), "malformed" (a 200 whose body is
  not JSON), "truncated" (a 200 whose body stops half-way), "429" (a rate-limit answer).

Its replies continue the completion-style prompts of `p2m_lib.generate.prompts`: a prompt ending
in "Input:" gets a new input (a few random words, or with `duplicate_rate` a copy of an input in
the prompt), a prompt ending in "Input: X\\nOutput:" gets X with its words reversed. Tokens are
counted as words. GET /stats answers the counters in `SimulatorStats` as JSON.

Example:
    with SimulatedEndpoint(SimulatorConfig(max_concurrency=8, latency_s=0.01)) as endpoint:
        teacher = OpenAITeacher(endpoint.base_url, "sim", "key")
        ...
        assert endpoint.stats.replies == 10

Or standalone: `python -m p2m_lib.llm.simulator --port 8000 --max-concurrency 100 --latency 0.2`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("500", "timeout", "malformed", "truncated", "429")
_WORDS = (
    "apple", "river", "stone", "cloud", "green", "quiet", "market", "garden", "silver", "window",
    "bright", "paper", "music", "winter", "ocean", "tiger", "candle", "forest", "simple", "yellow",
    "rocket", "bridge", "coffee", "summer", "planet", "little", "orange", "castle", "mirror", "pencil",
    "shadow", "valley", "thunder", "velvet", "harbor", "meadow", "lantern", "crystal", "desert", "falcon",
    "glacier", "island", "jungle", "kettle", "ladder", "marble", "needle", "orchard", "pepper", "quartz",
    "saddle", "timber", "umbrella", "violet", "walnut", "yarrow", "zephyr", "anchor", "basket", "copper",
)  # fmt: skip
_INPUT_LINE = re.compile(r"^Input: (.*)$", re.MULTILINE)
_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated endpoint behaves.

    Attributes:
        max_concurrency: Requests worked on at once; more wait in a queue (latency grows).
        latency_s: Seconds one request takes at no load.
        latency_jitter: Each request's latency is `latency_s` times a factor in 1 +- this.
        tokens_per_s: Completion tokens the whole server produces per second (None: no limit).
        rate_limit_rps: Requests admitted per second, with a burst of one second's worth;
            beyond it the server answers 429 (None: no limit).
        fault_rate: Fraction of requests that get a fault drawn from `fault_kinds`.
        fault_kinds: The faults `fault_rate` draws from (see `FAULT_KINDS`).
        fault_schedule: Faults on given arrivals: {1: "500"} fails the first request received.
        retry_after_s: The wait a scheduled or random 429 asks for.
        hang_s: How long a "timeout" fault holds the request before closing the connection.
        duplicate_rate: Fraction of new inputs that copy an input shown in the prompt.
        model: When given, requests for any other model get a 404.
        api_key: When given, requests without `Authorization: Bearer <api_key>` get a 401.
        seed: Seed of the faults, latencies and replies.
    """

    max_concurrency: int = 64
    latency_s: float = 0.05
    latency_jitter: float = 0.1
    tokens_per_s: float | None = None
    rate_limit_rps: float | None = None
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("500", "timeout", "malformed", "truncated")
    fault_schedule: Mapping[int, str] = field(default_factory=dict)
    retry_after_s: float = 1.0
    hang_s: float = 30.0
    duplicate_rate: float = 0.0
    model: str | None = None
    api_key: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = (set(self.fault_kinds) | set(self.fault_schedule.values())) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")

    def capacity_rps(self, completion_tokens_per_request: float = 0.0) -> float:
        """Requests per second this endpoint can serve at best, given the reply length."""
        limits = [self.max_concurrency / self.latency_s]
        if self.rate_limit_rps:
            limits.append(self.rate_limit_rps)
        if self.tokens_per_s and completion_tokens_per_request:
            limits.append(self.tokens_per_s / completion_tokens_per_request)
        return min(limits)


@dataclass
class SimulatorStats:
    """What the endpoint did, counted since it started.

    Attributes:
        arrivals: Chat completion requests received.
        replies: Requests answered 200 with a well-formed body: the ones a real endpoint bills.
        prompt_tokens: Prompt tokens of those replies.
        completion_tokens: Completion tokens of those replies.
        faults: Faults injected, by kind (see `FAULT_KINDS`), rate-limit 429s included.
        peak_concurrency: Most requests worked on at once.
        paid: Each billed reply: {"prompt": the last message, "texts": the choices}.
    """

    arrivals: int = 0
    replies: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    peak_concurrency: int = 0
    paid: list[dict[str, Any]] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        """Everything but `paid`, as plain JSON-ready values."""
        return {
            "arrivals": self.arrivals,
            "replies": self.replies,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "faults": dict(self.faults),
            "peak_concurrency": self.peak_concurrency,
        }


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    truncate: bool = False


def _words(text: str) -> int:
    return len(text.split())


def _cut_at_stop(text: str, stop: list[str]) -> str:
    positions = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(positions)] if positions else text


def pattern_reply(prompt: str, n: int, rng: random.Random, duplicate_rate: float = 0.0) -> list[str]:
    """`n` continuations of a completion-style few-shot prompt (see the module docstring)."""
    if prompt.rstrip().endswith("Input:"):
        shown = _INPUT_LINE.findall(prompt)
        return [_new_input(shown, rng, duplicate_rate) for _ in range(n)]
    given = _INPUT_LINE.findall(prompt)
    answer = " ".join(reversed(given[-1].split())) if given else prompt
    return [f" {answer}\n\nInput: more" for _ in range(n)]


def _new_input(shown: list[str], rng: random.Random, duplicate_rate: float) -> str:
    if shown and rng.random() < duplicate_rate:
        return f" {rng.choice(shown)}\nOutput:"
    return " " + " ".join(rng.choice(_WORDS) for _ in range(5)) + "\nOutput: something"


class _TokenBucket:
    """Admits `rate` requests a second with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(rate, 1.0)
        self.updated = time.monotonic()

    def wait_before_next(self) -> float:
        """0 when a request is admitted now (and takes a token), else the seconds to wait."""
        now = time.monotonic()
        self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class SimulatedEndpoint:
    """The simulated endpoint on 127.0.0.1, served by an asyncio loop in a background thread.

    Attributes:
        config: How it behaves.
        stats: What it did (read it after requests have finished).
        reply: Makes the texts of one request: (prompt, n, rng) -> texts, cut at the request's stop.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        reply: Callable[[str, int, random.Random], list[str]] | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.stats = SimulatorStats()
        self.reply = reply or (lambda p, n, rng: pattern_reply(p, n, rng, self.config.duplicate_rate))
        self._rng = random.Random(self.config.seed)
        self._bucket = _TokenBucket(self.config.rate_limit_rps) if self.config.rate_limit_rps else None
        self._active = 0
        self._decode_free_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulated endpoint has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """The base URL an OpenAI client takes, ending in /v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, port: int = 0) -> SimulatedEndpoint:
        """Listen on `port` (0: a free one) and serve from a daemon thread."""
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(port),), daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        """Stop serving; connections still open (hung requests) are closed."""
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join()
        self._thread = None

    def __enter__(self) -> SimulatedEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def serve(
        self, port: int = 0, host: str = "127.0.0.1", on_listening: Callable[[], None] | None = None
    ) -> None:
        """Serve until `stop()` (or forever, when run as a program); `on_listening` runs once bound."""
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._semaphore = asyncio.Semaphore(self.config.max_concurrency)
        connections: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._serve_connection(reader, writer)
            except asyncio.CancelledError:
                pass  # the server is stopping; asyncio 3.11 would log a cancelled connection as an error
            finally:
                connections.discard(task)
                writer.close()

        server = await asyncio.start_server(on_connect, host, port, backlog=1024)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        if on_listening is not None:
            on_listening()
        async with server:
            await self._stopped.wait()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer requests on one keep-alive connection until the client closes it."""
        while request := await _read_request(reader):
            method, path, headers, body = request
            response = await self._respond(method, path.split("?")[0].rstrip("/"), headers, body)
            if response is None:  # a "timeout" fault: close without an answer
                return
            await _write_response(writer, response)
            if response.truncate:
                return

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> _Response | None:
        if method == "GET" and path == "/stats":
            return _json_response(200, self.stats.counters())
        if method == "GET" and path == "/v1/models":
            model = {"id": self.config.model or "sim", "object": "model", "created": 0, "owned_by": "p2m"}
            return _json_response(200, {"object": "list", "data": [model]})
        if method == "POST" and path == "/v1/chat/completions":
            return await self._chat(headers, body)
        return _json_response(404, _error(f"no route {method} {path}", "not_found"))

    async def _chat(self, headers: dict[str, str], body: bytes) -> _Response | None:
        self.stats.arrivals += 1
        refusal, request = self._refusal(headers, body)
        if refusal is not None:
            return refusal
        fault = self._fault(self.stats.arrivals)
        wait = self._bucket.wait_before_next() if self._bucket else 0.0
        if fault == "429" or wait > 0:
            self.stats.faults["429"] += 1
            return _rate_limited(wait or self.config.retry_after_s)
        async with self._semaphore:
            self._active += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, self._active)
            try:
                return await self._work(request, fault)
            finally:
                self._active -= 1

    def _refusal(self, headers: dict[str, str], body: bytes) -> tuple[_Response | None, dict[str, Any]]:
        """A 401, 400 or 404 answer for a request a real endpoint would refuse, and the parsed body."""
        config = self.config
        if config.api_key is not None and headers.get("authorization") != f"Bearer {config.api_key}":
            return _json_response(401, _error("Incorrect API key provided.", "invalid_api_key")), {}
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return _json_response(400, _error("The request body is not valid JSON.", "invalid_json")), {}
        if config.model is not None and request.get("model") != config.model:
            message = f"The model `{request.get('model')}` does not exist."
            return _json_response(404, _error(message, "model_not_found")), {}
        return None, request

    def _fault(self, arrival: int) -> str | None:
        scheduled = self.config.fault_schedule.get(arrival)
        if scheduled or not self.config.fault_rate:
            return scheduled
        if self._rng.random() >= self.config.fault_rate:
            return None
        return self._rng.choice(self.config.fault_kinds)

    async def _work(self, request: dict[str, Any], fault: str | None) -> _Response | None:
        """Produce the reply, taking as long as the load says, then answer it or fail as `fault` says."""
        messages = request.get("messages") or [{}]
        prompt = str(messages[-1].get("content") or "")
        stop = request.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        texts = [_cut_at_stop(t, stop) for t in self.reply(prompt, int(request.get("n") or 1), self._rng)]
        completion_tokens = sum(_words(t) for t in texts)
        await asyncio.sleep(self._service_time(completion_tokens))
        if fault == "timeout":
            self.stats.faults[fault] += 1
            await asyncio.sleep(self.config.hang_s)
            return None
        if fault is not None:
            self.stats.faults[fault] += 1
            return _faulty_response(fault)
        prompt_tokens = sum(_words(str(m.get("content") or "")) for m in messages)
        self.stats.replies += 1
        self.stats.prompt_tokens += prompt_tokens
        self.stats.completion_tokens += completion_tokens
        self.stats.paid.append({"prompt": prompt, "texts": texts})
        return _json_response(200, _chat_completion(request, texts, prompt_tokens, completion_tokens))

    def _service_time(self, completion_tokens: int) -> float:
        """Latency with jitter, or longer when the server's token rate is the bottleneck."""
        config = self.config
        latency = config.latency_s * (1 + self._rng.uniform(-config.latency_jitter, config.latency_jitter))
        if not config.tokens_per_s:
            return latency
        # The server decodes `tokens_per_s` tokens a second in all: requests take turns on that clock.
        now = time.monotonic()
        self._decode_free_at = max(now, self._decode_free_at) + completion_tokens / config.tokens_per_s
        return max(latency, self._decode_free_at - now)


def _chat_completion(
    request: dict[str, Any], texts: list[str], prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "sim"),
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _json_response(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    return _Response(status, json.dumps(body).encode(), headers=headers)


def _rate_limited(wait_s: float) -> _Response:
    # Retry-After takes whole seconds (rounded up); retry-after-ms says the exact wait.
    headers = (("Retry-After", str(max(1, math.ceil(wait_s)))), ("retry-after-ms", str(round(wait_s * 1000))))
    return _json_response(429, _error("Rate limit reached, retry later.", "rate_limit_exceeded"), headers)


def _faulty_response(fault: str) -> _Response:
    if fault == "500":
        return _json_response(500, _error("The server had an error while processing your request.", "server"))
    body = b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "message": {"content": "cut off here'
    return _Response(200, body, truncate=fault == "truncated")


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request, or None when the client closed the connection."""
    try:
        request_line = await reader.readline()
        if not request_line.strip():
            return None
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length") or 0))
    except (ConnectionError, asyncio.IncompleteReadError):
        return None
    method, path, *_ = request_line.decode("latin-1").split()
    return method, path, headers, body


async def _write_response(writer: asyncio.StreamWriter, response: _Response) -> None:
    # A truncated body still announces its full length, so the client sees it cut off.
    length = len(response.body) * 2 if response.truncate else len(response.body)
    head = [
        f"HTTP/1.1 {response.status} {_STATUS_TEXT.get(response.status, 'Error')}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {length}",
        *(f"{name}: {value}" for name, value in response.headers),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
    with contextlib.suppress(ConnectionError):  # the client gave up on this request
        await writer.drain()


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, SimulatorConfig]:
    parser = argparse.ArgumentParser(description="A simulated OpenAI-compatible endpoint on loopback.")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--max-concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request at no load")
    parser.add_argument("--jitter", type=float, default=0.1)
    parser.add_argument("--tokens-per-s", type=float, default=None)
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default="500,timeout,malformed,truncated", help="kinds to draw from")
    parser.add_argument("--hang", type=float, default=30.0, help="seconds a timeout fault holds a request")
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = SimulatorConfig(
        max_concurrency=args.max_concurrency,
        latency_s=args.latency,
        latency_jitter=args.jitter,
        tokens_per_s=args.tokens_per_s,
        rate_limit_rps=args.rate_limit,
        fault_rate=args.fault_rate,
        fault_kinds=tuple(k for k in args.faults.split(",") if k),
        hang_s=args.hang,
        duplicate_rate=args.duplicate_rate,
        model=args.model,
        seed=args.seed,
    )
    return args, config


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; prints the base URL on its first line of stdout."""
    args, config = _parse_args(argv)
    endpoint = SimulatedEndpoint(config)
    announce = lambda: print(endpoint.base_url, flush=True)  # noqa: E731 (a one-line callback)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(endpoint.serve(args.port, on_listening=announce))


if __name__ == "__main__":
    main()
