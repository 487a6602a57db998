"""The asynchronous request engine behind the OpenAI-compatible teacher.

It keeps as many requests in flight as the endpoint keeps up with (`AdaptiveLimit`), honours
`Retry-After`, retries 5xx answers, timeouts, dropped connections and malformed or cut-off
bodies with jittered exponential backoff up to a bound, and hands each reply to the caller the
moment it is parsed, before anything else can happen: a reply that was received is never lost.

The caller drives it with two callbacks: `next_jobs(free)` returns up to `free` more jobs (an
empty list while it waits for replies; empty with nothing in flight ends the run), and
`on_reply(job, completion)` takes each reply. When the run is interrupted (Ctrl-C) or fails, the
requests already in flight are still waited for and handed over; they are paid for.

aiohttp, not httpx, carries the requests: measured here, httpx's connection pool spent 15 ms of CPU
per request at 100 connections (54 requests/s against an endpoint serving 500), aiohttp 0.3 ms.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import json
import logging
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from p2m_lib.errors import P2MError
from p2m_lib.llm.base import cut_at_stop
from p2m_lib.types import Completion, SamplingParams

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_MAX_DETAIL_CHARS = 200
# A server asking for a longer wait than this is misbehaving; waiting an hour helps nobody.
_MAX_RETRY_AFTER_S = 300.0
_RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class Job:
    """One chat completion to get: the prompt, how to sample, and the caller's own data."""

    prompt: str
    params: SamplingParams
    tag: Any = None


@dataclass
class EngineStats:
    """What one run of the engine did.

    Attributes:
        attempts: HTTP requests sent, retries included.
        replies: Well-formed replies handed to the caller.
        rate_limited: 429 answers.
        server_errors: 5xx, 408 and 409 answers.
        timeouts: Requests that got no answer in time.
        malformed: 200 answers whose body was not a chat completion (not JSON, no choices).
        cut_off: Connections dropped before the whole answer arrived.
        refused: Answers that refuse for good (401, 403, 404, other 4xx).
        failed: Jobs given up after their retries.
        peak_concurrency: Most requests in flight at once.
        final_concurrency: The adaptive limit when the run ended.
    """

    attempts: int = 0
    replies: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    malformed: int = 0
    cut_off: int = 0
    refused: int = 0
    failed: int = 0
    peak_concurrency: int = 0
    final_concurrency: int = 0

    def faults(self) -> dict[str, int]:
        """The non-zero fault counters, by name."""
        names = ("rate_limited", "server_errors", "timeouts", "malformed", "cut_off", "refused", "failed")
        return {name: count for name, count in asdict(self).items() if name in names and count}


@runtime_checkable
class StreamingTeacher(Protocol):
    """A teacher that can keep many requests in flight and hand replies back as they arrive."""

    name: str
    capable: bool

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]: ...

    def stream(
        self,
        next_jobs: Callable[[int], Sequence[Job]],
        on_reply: Callable[[Job, Completion], None],
        on_failure: Callable[[Job, str], None],
    ) -> EngineStats:
        """See `RequestEngine.run`."""
        ...


class AdaptiveLimit:
    """How many requests to keep in flight: more while the endpoint keeps up, fewer when it does not.

    Replies are judged a window at a time, a window being as many replies as the limit (about one
    round trip). The window's median latency is compared with the lowest window median of the
    last `history` windows, the endpoint's latency when nothing queues. Above `tolerance` times
    that, requests are queueing at the endpoint and the limit shrinks by 10%; otherwise, if the
    window kept the whole limit busy, it grows: doubling at first (slow start), by 12.5% a window
    once the endpoint has pushed back. A 429 halves it, at most once a window. Timeouts do not
    count: a request that hangs says nothing about the others, and an endpoint that is really
    overloaded shows it in its latency first.

    Attributes:
        limit: Requests to keep in flight now.
    """

    def __init__(
        self, initial: int, maximum: int, minimum: int = 1, tolerance: float = 1.5, history: int = 30
    ) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum} and {maximum}")
        self.minimum, self.maximum, self.tolerance = minimum, maximum, tolerance
        self.limit = max(minimum, min(initial, maximum))
        self._slow_start = True
        self._window: list[float] = []
        self._busiest = 0
        self._overloaded_this_window = False
        self._recent_medians: deque[float] = deque(maxlen=history)

    def on_reply(self, latency: float, in_flight: int) -> None:
        """Count one reply that took `latency` seconds while `in_flight` requests were out."""
        self._window.append(latency)
        self._busiest = max(self._busiest, in_flight)
        if len(self._window) < max(self.limit, 4):
            return
        typical = statistics.median(self._window)
        self._recent_medians.append(typical)
        if typical > self.tolerance * min(self._recent_medians):
            self._shrink(0.9)
        elif self._busiest >= self.limit:
            grown = self.limit * 2 if self._slow_start else self.limit + max(1, self.limit // 8)
            self.limit = min(self.maximum, grown)
        self._new_window()

    def on_overload(self) -> None:
        """The endpoint refused a request for the load (429): halve the limit."""
        if not self._overloaded_this_window:
            self._shrink(0.5)
            self._new_window()
            # Replies to requests sent before the cut will still report the old load.
            self._overloaded_this_window = True

    def _shrink(self, factor: float) -> None:
        self._slow_start = False
        self.limit = max(self.minimum, int(self.limit * factor))

    def _new_window(self) -> None:
        self._window = []
        self._busiest = 0
        self._overloaded_this_window = False


def retry_delay(
    attempt: int, retry_after: float | None, base: float, cap: float, rng: random.Random
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    The server's `Retry-After` when it gave one (plus up to 10% so that the requests it turned
    away do not all return at once); else "full jitter" exponential backoff: uniform in
    [0, min(cap, base * 2**attempt)].
    """
    if retry_after is not None:
        return min(retry_after, _MAX_RETRY_AFTER_S) * (1 + rng.uniform(0, 0.1))
    return rng.uniform(0, min(cap, base * 2**attempt))


def parse_retry_after(headers: Any) -> float | None:
    """Seconds the server asked to wait: `retry-after-ms`, else `Retry-After` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, float(milliseconds) / 1000)
    value = headers.get("retry-after")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return None


class _AttemptFailed(Exception):
    """One attempt failed; `kind` names the EngineStats counter, `retryable` whether to try again."""

    def __init__(self, kind: str, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.retryable, self.retry_after = kind, message, retryable, retry_after


class RequestEngine:
    """Sends chat completion jobs to one OpenAI-compatible endpoint (see the module docstring).

    The adaptive limit lives as long as the engine, so later runs start from what earlier ones learnt.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        max_concurrency: int = 256,
        initial_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        max_consecutive_failures: int = 10,
    ) -> None:
        """Configure the engine; nothing is contacted until `run`.

        Args:
            base_url: The endpoint's base URL, e.g. "https://api.openai.com/v1".
            model: The model name sent with every request.
            api_key: The bearer token; never logged, recorded or put in an error message.
            max_concurrency: Most requests in flight at once, whatever the endpoint takes.
            initial_concurrency: Requests in flight at the start, before the limit adapts.
            timeout: Seconds one attempt may take.
            max_retries: Retries of one job after 429s, 5xx answers, timeouts and broken replies.
            backoff_base: First backoff step in seconds (when the server gives no Retry-After).
            backoff_max: Longest backoff in seconds.
            max_consecutive_failures: Jobs in a row given up on before the run stops with an error.
        """
        if max_concurrency < 1:
            raise P2MError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_consecutive_failures = max_consecutive_failures
        self.limit = AdaptiveLimit(initial_concurrency, max_concurrency)
        self._api_key = api_key
        self._rng = random.Random()
        self._where = f"the teacher LLM at {self.base_url}"

    def __repr__(self) -> str:
        return f"RequestEngine(base_url={self.base_url!r}, model={self.model!r})"

    def run(
        self,
        next_jobs: Callable[[int], Sequence[Job]],
        on_reply: Callable[[Job, Completion], None],
        on_failure: Callable[[Job, str], None] | None = None,
    ) -> EngineStats:
        """Send jobs until `next_jobs` has no more and none is in flight.

        Args:
            next_jobs: Called with the number of free slots; returns at most that many jobs.
            on_reply: Called with each job and its reply as soon as the reply is parsed.
            on_failure: Called with a job and a one-line reason when the job is given up after its
                retries; None to stop the run with a P2MError instead.

        Raises:
            P2MError: The endpoint refused a request for good (bad key, unknown model, ...), a job
                failed and `on_failure` is None, or `max_consecutive_failures` jobs failed in a row.
        """
        return _run_sync(_Run(self, next_jobs, on_reply, on_failure).run())

    def request_body(self, job: Job) -> dict[str, Any]:
        """The JSON body of the chat completion request for `job`."""
        params = job.params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": job.prompt}],
            "n": params.n,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    async def attempt(self, session: aiohttp.ClientSession, job: Job) -> Completion:
        """Send `job` once and parse the reply.

        Raises:
            _AttemptFailed: The attempt failed, retryable or not.
        """
        import aiohttp

        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            async with session.post(
                f"{self.base_url}/chat/completions", json=self.request_body(job), headers=headers
            ) as response:
                data = await response.read()
                if response.status != 200:
                    raise self._status_failure(response.status, response.headers, data)
        except TimeoutError:
            raise _AttemptFailed("timeouts", self._timeout_message(), retryable=True) from None
        except aiohttp.ClientConnectorError as error:
            message = f"cannot connect to {self._where} ({_one_line(str(error.os_error or error))}); "
            raise _AttemptFailed("cut_off", message + "is the server up and the URL right?", True) from None
        except aiohttp.ClientError as error:
            message = f"{self._where} broke off its reply ({_one_line(str(error))})"
            raise _AttemptFailed("cut_off", message, retryable=True) from None
        return self._completion(data, job.params)

    def _status_failure(self, status: int, headers: Any, data: bytes) -> _AttemptFailed:
        detail = _server_detail(data)
        if status == 429:
            message = f"{self._where} still rate-limited requests (HTTP 429) after {self.max_retries} retries"
            return _AttemptFailed("rate_limited", message, True, parse_retry_after(headers))
        if status in _RETRYABLE_STATUS:
            message = f"{self._where} answered HTTP {status}: {detail}"
            return _AttemptFailed("server_errors", message, True, parse_retry_after(headers))
        return _AttemptFailed("refused", self._refusal_message(status, detail), retryable=False)

    def _refusal_message(self, status: int, detail: str) -> str:
        """One line that says why the endpoint refused and what to check."""
        if status == 401:
            return f"{self._where} rejected the API key (HTTP 401); set OPENAI_API_KEY to a valid key"
        if status == 403:
            return f"{self._where} denied access to model {self.model!r} (HTTP 403): {detail}"
        if status == 404:
            return (
                f"{self._where} has no model {self.model!r} (HTTP 404: {detail}); "
                "check P2M_LLM_MODEL and that the base URL ends in /v1"
            )
        return f"{self._where} answered HTTP {status}: {detail}"

    def _timeout_message(self) -> str:
        return f"{self._where} did not answer within {self.timeout:g} s ({self.max_retries} retries)"

    def _completion(self, data: bytes, params: SamplingParams) -> Completion:
        # A body that is not JSON, or JSON without choices: the server is not speaking the chat
        # completions API, or the reply was garbled on the way.
        try:
            body = json.loads(data)
            choices = sorted(body["choices"], key=lambda choice: choice.get("index") or 0)
            texts = tuple(cut_at_stop(_choice_text(choice), params.stop) for choice in choices)
        except (ValueError, KeyError, TypeError, AttributeError):
            texts = ()
        if not texts:
            message = (
                f"{self._where} sent a malformed reply with no choices; "
                "is it an OpenAI-compatible chat completions endpoint?"
            )
            raise _AttemptFailed("malformed", message, retryable=True)
        usage = body.get("usage") or {}
        return Completion(texts, usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)

    def redact(self, message: str) -> str:
        """`message` with the API key masked, in case a server echoed it back."""
        return message.replace(self._api_key, "***") if self._api_key else message

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        return retry_delay(attempt, retry_after, self.backoff_base, self.backoff_max, self._rng)


class _Run:
    """One `RequestEngine.run`: the dispatch loop and the jobs in flight."""

    def __init__(
        self,
        engine: RequestEngine,
        next_jobs: Callable[[int], Sequence[Job]],
        on_reply: Callable[[Job, Completion], None],
        on_failure: Callable[[Job, str], None] | None,
    ) -> None:
        self.engine = engine
        self.next_jobs = next_jobs
        self.on_reply = on_reply
        self.on_failure = on_failure
        self.stats = EngineStats()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.backing_off: set[asyncio.Task[None]] = set()
        self.paused_until = 0.0
        self.consecutive_failures = 0
        self.draining = False

    async def run(self) -> EngineStats:
        import aiohttp

        engine = self.engine
        finished: asyncio.Queue[asyncio.Task[None]] = asyncio.Queue()
        connector = aiohttp.TCPConnector(limit=engine.limit.maximum, limit_per_host=engine.limit.maximum)
        timeout = aiohttp.ClientTimeout(total=engine.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            try:
                while True:
                    await self._wait_out_pause()
                    self._launch(session, finished)
                    if not self.in_flight:
                        break
                    task = await finished.get()
                    self.in_flight.discard(task)
                    task.result()  # a job that stops the run raises here
            except BaseException:
                await self._drain()
                raise
        self.stats.final_concurrency = engine.limit.limit
        return self.stats

    def _launch(self, session: aiohttp.ClientSession, finished: asyncio.Queue[asyncio.Task[None]]) -> None:
        """Start jobs until the limit is reached or the caller has none to give."""
        while (free := self.engine.limit.limit - len(self.in_flight)) > 0:
            jobs = self.next_jobs(free)
            if not jobs:
                return
            for job in jobs:
                task = asyncio.create_task(self._serve(session, job))
                task.add_done_callback(finished.put_nowait)
                self.in_flight.add(task)
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, len(self.in_flight))

    async def _wait_out_pause(self) -> None:
        """After a 429 the whole endpoint is busy: send nothing new until its Retry-After has passed."""
        wait = self.paused_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _serve(self, session: aiohttp.ClientSession, job: Job) -> None:
        """Attempt `job` until it succeeds, fails for good, or runs out of retries."""
        engine = self.engine
        for attempt in range(engine.max_retries + 1):
            started = time.monotonic()
            self.stats.attempts += 1
            try:
                completion = await engine.attempt(session, job)
            except _AttemptFailed as failure:
                setattr(self.stats, failure.kind, getattr(self.stats, failure.kind) + 1)
                if not failure.retryable:
                    raise P2MError(engine.redact(failure.message)) from None
                if attempt == engine.max_retries or self.draining:
                    return self._give_up(job, failure.message)
                await self._back_off(attempt, failure)
                continue
            # Handed over before anything else can run: a reply received is a reply kept.
            self.on_reply(job, completion)
            self.stats.replies += 1
            self.consecutive_failures = 0
            engine.limit.on_reply(time.monotonic() - started, len(self.in_flight))
            return None

    async def _back_off(self, attempt: int, failure: _AttemptFailed) -> None:
        delay = self.engine.backoff(attempt, failure.retry_after)
        if failure.kind == "rate_limited":
            self.engine.limit.on_overload()
            self.paused_until = max(self.paused_until, time.monotonic() + delay)
        task = asyncio.current_task()
        assert task is not None
        self.backing_off.add(task)
        try:
            await asyncio.sleep(delay)
        finally:
            self.backing_off.discard(task)

    def _give_up(self, job: Job, message: str) -> None:
        message = self.engine.redact(message)
        self.stats.failed += 1
        if self.on_failure is None:
            raise P2MError(message)
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.engine.max_consecutive_failures:
            raise P2MError(f"{self.consecutive_failures} requests in a row failed; the last: {message}")
        self.on_failure(job, message)

    async def _drain(self) -> None:
        """Wait for the replies already on their way (they are paid for); retry nothing more."""
        self.draining = True
        for task in self.backing_off:
            task.cancel()
        waiting = [task for task in self.in_flight if not task.done()]
        if waiting:
            log.warning("waiting for %d requests in flight; interrupt again to abandon them", len(waiting))
            await asyncio.gather(*waiting, return_exceptions=True)


def _choice_text(choice: dict[str, Any]) -> str:
    message = choice.get("message") or {}
    return message.get("content") or ""


def _server_detail(data: bytes) -> str:
    """The server's own error message, from an OpenAI-style body when there is one."""
    try:
        body = json.loads(data)
    except ValueError:
        return _one_line(data.decode("utf-8", "replace"))
    error = body.get("error", body) if isinstance(body, dict) else body
    detail = error.get("message") if isinstance(error, dict) else error
    return _one_line(str(detail))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_DETAIL_CHARS]


def _run_sync(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run `coroutine` to completion from sync code, even when an event loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # asyncio.run refuses to nest (a notebook, an async server): use a fresh loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
