"""A teacher behind any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, KServe, llama.cpp)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from p2m_lib.errors import P2MError
from p2m_lib.llm.base import cut_at_stop
from p2m_lib.types import Completion, SamplingParams

if TYPE_CHECKING:
    import openai

_T = TypeVar("_T")
_MAX_DETAIL_CHARS = 200


class OpenAITeacher:
    """Sends each prompt as one user message, many at once under a concurrency limit.

    Attributes:
        name: The model name.
        capable: Always True: a remote model is trusted to follow instructions and write JSON.
        base_url: The endpoint's base URL (ending in /v1 for most servers).
    """

    capable = True

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        """Configure the client; nothing is contacted until `complete`.

        Args:
            base_url: The OpenAI-compatible base URL, e.g. "https://api.openai.com/v1".
            model: The model name sent with every request.
            api_key: The bearer token; never printed or put in an error message.
            max_concurrency: Most requests in flight at once (throttling).
            timeout: Seconds one request may take before it is retried or fails.
            max_retries: Retries of timeouts, 429s and 5xx answers, done by the openai client.
        """
        if max_concurrency < 1:
            raise P2MError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.base_url = base_url.rstrip("/")
        self.name = model
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"OpenAITeacher(base_url={self.base_url!r}, model={self.name!r})"

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
        """Sample `params.n` replies per prompt; see `Teacher.complete`.

        Raises:
            P2MError: The server could not be reached, refused the request or sent a malformed reply.
        """
        if not prompts:
            return []
        return _run_sync(self._complete_all(list(prompts), params))

    async def _complete_all(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        import openai

        semaphore = asyncio.Semaphore(self.max_concurrency)
        client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self._api_key, timeout=self.timeout, max_retries=self.max_retries
        )
        async with client:
            try:
                # A TaskGroup cancels the other requests as soon as one fails.
                async with asyncio.TaskGroup() as group:
                    tasks = [
                        group.create_task(self._complete_one(client, semaphore, p, params)) for p in prompts
                    ]
            except ExceptionGroup as errors:
                first = errors.exceptions[0]
                raise first from first.__cause__
        return [task.result() for task in tasks]

    async def _complete_one(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, prompt: str, params: SamplingParams
    ) -> Completion:
        import openai

        async with semaphore:
            try:
                response = await client.chat.completions.create(**self._request(prompt, params))
            except openai.APIError as exc:
                raise P2MError(self._redact(self._describe(exc))) from exc
        return self._completion(response, params)

    def _request(self, prompt: str, params: SamplingParams) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": "user", "content": prompt}],
            "n": params.n,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            request["stop"] = list(params.stop)
        return request

    def _completion(self, response: Any, params: SamplingParams) -> Completion:
        # A non-JSON body arrives as a str and a JSON body without choices as a ChatCompletion
        # whose choices are None: both mean the server is not speaking the chat completions API.
        choices = getattr(response, "choices", None)
        if not choices:
            raise P2MError(
                f"the teacher LLM at {self.base_url} sent a malformed reply with no choices; "
                "is it an OpenAI-compatible chat completions endpoint?"
            )
        ordered = sorted(choices, key=lambda choice: choice.index or 0)
        texts = tuple(cut_at_stop(_choice_text(choice), params.stop) for choice in ordered)
        usage = getattr(response, "usage", None)
        return Completion(
            texts=texts,
            prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=(usage.completion_tokens or 0) if usage else 0,
        )

    def _describe(self, exc: openai.APIError) -> str:
        """One line that says what went wrong with the request and what to check."""
        import openai

        where = f"the teacher LLM at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return f"{where} did not answer within {self.timeout:g} s ({self.max_retries} retries)"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return f"cannot connect to {where} ({_one_line(str(cause))}); is the server up and the URL right?"
        if isinstance(exc, openai.AuthenticationError):
            return f"{where} rejected the API key (HTTP 401); set OPENAI_API_KEY to a valid key"
        if isinstance(exc, openai.PermissionDeniedError):
            return f"{where} denied access to model {self.name!r} (HTTP 403): {_server_detail(exc)}"
        if isinstance(exc, openai.NotFoundError):
            return (
                f"{where} has no model {self.name!r} (HTTP 404: {_server_detail(exc)}); "
                "check P2M_LLM_MODEL and that the base URL ends in /v1"
            )
        if isinstance(exc, openai.RateLimitError):
            return f"{where} still rate-limited requests (HTTP 429) after {self.max_retries} retries"
        if isinstance(exc, openai.APIStatusError):
            return f"{where} answered HTTP {exc.status_code}: {_server_detail(exc)}"
        return f"{where} sent a malformed reply: {_one_line(exc.message)}"

    def _redact(self, message: str) -> str:
        """`message` with the API key masked, in case a server echoed it back."""
        return message.replace(self._api_key, "***") if self._api_key else message


def _choice_text(choice: Any) -> str:
    message = getattr(choice, "message", None)
    return (getattr(message, "content", None) or "") if message else ""


def _server_detail(exc: openai.APIStatusError) -> str:
    """The server's own error message, from an OpenAI-style body when there is one."""
    body = exc.body
    error = body.get("error", body) if isinstance(body, dict) else body
    detail = error.get("message") if isinstance(error, dict) else error
    return _one_line(str(detail or exc.message))


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
