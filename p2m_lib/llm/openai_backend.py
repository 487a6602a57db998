"""A teacher behind any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, KServe, llama.cpp)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from p2m_lib.llm.engine import EngineStats, Job, RequestEngine
from p2m_lib.types import Completion, SamplingParams


class OpenAITeacher:
    """Sends each prompt as one user message through a `RequestEngine` (adaptive concurrency, retries).

    Attributes:
        name: The model name.
        capable: Always True: a remote model is trusted to follow instructions and write JSON.
        base_url: The endpoint's base URL (ending in /v1 for most servers).
        engine: The request engine; its adaptive limit carries over from one call to the next.
    """

    capable = True

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        max_concurrency: int = 256,
        timeout: float = 60.0,
        max_retries: int = 5,
        initial_concurrency: int = 8,
        backoff_base: float = 0.5,
    ) -> None:
        """Configure the client; nothing is contacted until `complete` or `stream`.

        Args:
            base_url: The OpenAI-compatible base URL, e.g. "https://api.openai.com/v1".
            model: The model name sent with every request.
            api_key: The bearer token; never printed, recorded or put in an error message.
            max_concurrency: Most requests in flight at once; the engine finds what the endpoint
                takes below that.
            timeout: Seconds one request may take before it is retried or fails.
            max_retries: Retries of one request after 429s, 5xx answers, timeouts and broken replies.
            initial_concurrency: Requests in flight at first, before the limit adapts.
            backoff_base: First backoff step in seconds when the server gives no Retry-After.
        """
        self.engine = RequestEngine(
            base_url,
            model,
            api_key,
            max_concurrency=max_concurrency,
            initial_concurrency=initial_concurrency,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
        )
        self.base_url = self.engine.base_url
        self.name = model

    def __repr__(self) -> str:
        return f"OpenAITeacher(base_url={self.base_url!r}, model={self.name!r})"

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        """Sample `params.n` replies per prompt; see `Teacher.complete`.

        Raises:
            P2MError: The server could not be reached, refused the request or kept failing it.
        """
        if not prompts:
            return []
        waiting = iter(enumerate(prompts))
        completions: dict[int, Completion] = {}

        def next_jobs(free: int) -> list[Job]:
            return [Job(prompt, params, index) for index, prompt in itertools.islice(waiting, free)]

        def on_reply(job: Job, completion: Completion) -> None:
            completions[job.tag] = completion

        self.engine.run(next_jobs, on_reply)
        return [completions[index] for index in range(len(prompts))]

    def stream(
        self,
        next_jobs: Callable[[int], Sequence[Job]],
        on_reply: Callable[[Job, Completion], None],
        on_failure: Callable[[Job, str], None],
    ) -> EngineStats:
        """Keep the endpoint busy with the caller's jobs, handing over each reply as it arrives.

        See `RequestEngine.run`; a job that fails after its retries goes to `on_failure`.
        """
        return self.engine.run(next_jobs, on_reply, on_failure)
