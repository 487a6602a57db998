"""OpenAITeacher against a real HTTP server on loopback (tests/openai_server.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest
from openai_server import OpenAICompatServer

from p2m_lib.errors import P2MError
from p2m_lib.llm import OpenAITeacher, Teacher
from p2m_lib.types import Completion, SamplingParams

KEY = "sk-test-secret-0123456789"
MODEL = "test-model"


def numbered_reply(request: dict[str, Any]) -> list[str]:
    """n replies that name the prompt they answer: "<prompt> #<i> tail"."""
    prompt = request["messages"][0]["content"]
    return [f"{prompt} #{i} tail" for i in range(request["n"])]


def teacher_for(server: OpenAICompatServer, **kwargs: Any) -> OpenAITeacher:
    # Retries of 200 replies without a Retry-After back off by milliseconds here, not seconds.
    return OpenAITeacher(server.base_url, MODEL, KEY, **{"backoff_base": 0.001, **kwargs})


def test_n_samples_per_prompt_in_prompt_order_with_summed_usage() -> None:
    prompts = [f"prompt {i}" for i in range(5)]
    with OpenAICompatServer(reply=numbered_reply, model=MODEL, api_key=KEY) as server:
        completions = teacher_for(server).complete(prompts, SamplingParams(n=3))

    assert [c.texts for c in completions] == [tuple(f"{p} #{i} tail" for i in range(3)) for p in prompts]
    # The server counts words: 2 per prompt, 4 per reply.
    assert completions[0] == Completion(completions[0].texts, prompt_tokens=2, completion_tokens=12)
    assert sum(c.completion_tokens for c in completions) == 60


def test_sampling_params_model_and_key_are_sent() -> None:
    params = SamplingParams(n=2, temperature=1.3, max_tokens=17, stop=("\n", "###"))
    with OpenAICompatServer(reply=numbered_reply) as server:
        teacher_for(server).complete(["hello"], params)

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {KEY}"
    body = request["body"]
    assert body["model"] == MODEL
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert (body["n"], body["temperature"], body["max_tokens"], body["stop"]) == (2, 1.3, 17, ["\n", "###"])


def test_stop_strings_cut_texts_the_server_did_not_cut() -> None:
    with OpenAICompatServer(reply=lambda request: ["keep this\nnot this", "a###b\nc", "none"]) as server:
        (completion,) = teacher_for(server).complete(["x"], SamplingParams(n=3, stop=("\n", "###")))

    assert completion.texts == ("keep this", "a", "none")


def test_requests_are_throttled_to_max_concurrency() -> None:
    in_flight, peak, lock = 0, 0, threading.Lock()

    def slow_reply(request: dict[str, Any]) -> list[str]:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return ["ok"]

    with OpenAICompatServer(reply=slow_reply) as server:
        completions = teacher_for(server, max_concurrency=2).complete(["p"] * 6, SamplingParams())

    assert len(completions) == 6
    assert peak == 2


def test_complete_works_inside_a_running_event_loop() -> None:
    async def call_from_async_code(teacher: OpenAITeacher) -> list[Completion]:
        return teacher.complete(["inside"], SamplingParams())

    with OpenAICompatServer() as server:
        (completion,) = asyncio.run(call_from_async_code(teacher_for(server)))

    assert completion.texts == ("inside",)


def test_server_error_is_retried_by_the_client() -> None:
    answers = iter([(500, {"error": {"message": "overloaded"}}), ["recovered"]])
    with OpenAICompatServer(reply=lambda request: next(answers)) as server:
        (completion,) = teacher_for(server, max_retries=2).complete(["x"], SamplingParams())

    assert completion.texts == ("recovered",)
    assert len(server.requests) == 2


def test_server_error_after_retries_names_the_status() -> None:
    server = OpenAICompatServer(reply=lambda request: (503, {"error": {"message": "warming up"}}))
    with server, pytest.raises(P2MError, match="HTTP 503: warming up"):
        teacher_for(server, max_retries=1).complete(["x"], SamplingParams())

    assert len(server.requests) == 2


def test_wrong_key_gives_an_error_that_does_not_reveal_it() -> None:
    server = OpenAICompatServer(api_key="the-right-key")
    with server, pytest.raises(P2MError) as caught:
        teacher_for(server).complete(["x"], SamplingParams())

    message = str(caught.value)
    assert "401" in message and server.base_url in message
    assert KEY not in message and "\n" not in message


def test_echoed_key_is_masked() -> None:
    server = OpenAICompatServer(reply=lambda request: (400, {"error": {"message": f"bad request for {KEY}"}}))
    with server, pytest.raises(P2MError) as caught:
        teacher_for(server).complete(["x"], SamplingParams())

    assert "HTTP 400" in str(caught.value) and KEY not in str(caught.value)


def test_unknown_model_gives_a_404_error_naming_it() -> None:
    server = OpenAICompatServer(model="other-model")
    with server, pytest.raises(P2MError, match=f"no model '{MODEL}'.*HTTP 404"):
        teacher_for(server).complete(["x"], SamplingParams())


MALFORMED_BODIES = [{"id": "x", "object": "chat.completion"}, {"choices": []}, "<html>hi</html>"]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_reply_without_choices_gives_a_clear_error(body: dict[str, Any] | str) -> None:
    server = OpenAICompatServer(reply=lambda request: (200, body))
    with server, pytest.raises(P2MError, match="malformed reply with no choices") as caught:
        teacher_for(server).complete(["x"], SamplingParams())

    assert server.base_url in str(caught.value)


def test_slow_server_gives_a_timeout_error() -> None:
    def slow_reply(request: dict[str, Any]) -> list[str]:
        time.sleep(1.0)
        return ["too late"]

    server = OpenAICompatServer(reply=slow_reply)
    with server, pytest.raises(P2MError, match="did not answer within 0.2 s") as caught:
        teacher_for(server, timeout=0.2, max_retries=0).complete(["x"], SamplingParams())

    assert server.base_url in str(caught.value)


def test_connection_refused_names_the_url() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"

    with pytest.raises(P2MError, match="cannot connect") as caught:
        OpenAITeacher(base_url, MODEL, KEY, max_retries=0).complete(["x"], SamplingParams())

    assert base_url in str(caught.value) and KEY not in str(caught.value)


def test_no_prompts_sends_nothing_and_teacher_matches_the_protocol() -> None:
    teacher = OpenAITeacher("http://127.0.0.1:1/v1", MODEL, KEY)

    assert teacher.complete([], SamplingParams()) == []
    assert isinstance(teacher, Teacher)
    assert (teacher.name, teacher.capable) == (MODEL, True)
    assert KEY not in repr(teacher)
