"""The real KServe ModelServer on loopback serving the tiny model: routes, decoding, batching, refusals."""

import asyncio
import re

import httpx
import pytest
from serve.settings import MAX_INPUT_CHARS, MAX_INSTANCES, MAX_NEW_TOKENS_LIMIT, MODEL_NAME, SERVER_BATCH_SIZE

from p2m_lib.serve.demo import endpoint_answer
from p2m_lib.train import StudentPredictor

INPUTS = ["word 1", "a much longer input than the others", "x", "hello there"]


@pytest.fixture(scope="module")
def predictor(served_model_dir):
    return StudentPredictor.load(served_model_dir)


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        yield client


def test_the_model_is_listed_ready_and_live(client):
    assert client.get("/v1/models").json() == {"models": [MODEL_NAME]}
    assert client.get(f"/v1/models/{MODEL_NAME}").json() == {"name": MODEL_NAME, "ready": True}
    assert client.get(f"/v2/models/{MODEL_NAME}/ready").json() == {"name": MODEL_NAME, "ready": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/").json() == {"status": "alive"}


def test_v1_predict_gives_the_evaluation_predictors_answers(client, predictor):
    response = client.post(f"/v1/models/{MODEL_NAME}:predict", json={"instances": INPUTS})

    assert response.status_code == 200
    assert response.json() == {"predictions": predictor.predict(INPUTS, batch_size=SERVER_BATCH_SIZE)}


def test_v1_predict_honours_a_shorter_answer_length(client, predictor):
    body = {"instances": INPUTS, "parameters": {"max_new_tokens": 1}}

    response = client.post(f"/v1/models/{MODEL_NAME}:predict", json=body)

    assert response.json()["predictions"] == predictor.predict(
        INPUTS, batch_size=SERVER_BATCH_SIZE, max_new_tokens=1
    )


def test_v2_infer_answers_with_a_bytes_output_tensor(client, predictor):
    body = {"id": "r-1", "inputs": [{"name": "input", "shape": [2], "datatype": "BYTES", "data": INPUTS[:2]}]}

    response = client.post(f"/v2/models/{MODEL_NAME}/infer", json=body)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["id"], answer["model_name"]) == ("r-1", MODEL_NAME)
    assert answer["outputs"][0] | {"parameters": None} == {
        "name": "output",
        "shape": [2],
        "datatype": "BYTES",
        "parameters": None,
        "data": predictor.predict(INPUTS[:2], batch_size=SERVER_BATCH_SIZE),
    }
    metadata = client.get(f"/v2/models/{MODEL_NAME}").json()
    assert metadata["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]


def test_concurrent_requests_are_decoded_in_fewer_batches(server, client):
    before = _batch_metrics(client)

    async def clients(count):
        async with httpx.AsyncClient(base_url=server.url, timeout=60.0) as session:
            return await asyncio.gather(
                *(
                    session.post(f"/v1/models/{MODEL_NAME}:predict", json={"instances": [f"w{i}"]})
                    for i in range(count)
                )
            )

    responses = asyncio.run(clients(12))

    assert [response.status_code for response in responses] == [200] * 12
    assert all(isinstance(response.json()["predictions"][0], str) for response in responses)
    batches, requests = (after - start for after, start in zip(_batch_metrics(client), before, strict=True))
    assert requests == 12
    assert batches < 12
    assert batches >= 12 / SERVER_BATCH_SIZE


def _batch_metrics(client):
    """(batches decoded, requests answered) so far, from the server's Prometheus metrics."""
    text = client.get("/metrics").text
    values = [
        float(
            re.search(rf'^p2m_serve_batch_requests_{kind}{{model_name="{MODEL_NAME}"}} (\S+)$', text, re.M)[1]
        )
        for kind in ("count", "sum")
    ]
    return tuple(values)


V1 = f"/v1/models/{MODEL_NAME}:predict"
V2 = f"/v2/models/{MODEL_NAME}/infer"
JSON = {"content-type": "application/json"}
BAD_REQUESTS = {
    "malformed JSON": (V1, {"content": b'{"instances": ["a"', "headers": JSON}, 400),
    "malformed JSON sent as text": (
        V1,
        {"content": b"instances=a", "headers": {"content-type": "text/plain"}},
        400,
    ),
    "no instances": (V1, {"json": {"inputs": ["a"]}}, 400),
    "instances not a list": (V1, {"json": {"instances": "a"}}, 400),
    "a non-string instance": (V1, {"json": {"instances": ["a", {"text": "b"}]}}, 400),
    "an input over the length limit": (V1, {"json": {"instances": ["a" * (MAX_INPUT_CHARS + 1)]}}, 400),
    "too many instances": (V1, {"json": {"instances": ["a"] * (MAX_INSTANCES + 1)}}, 400),
    "an answer length over the limit": (
        V1,
        {"json": {"instances": ["a"], "parameters": {"max_new_tokens": MAX_NEW_TOKENS_LIMIT + 1}}},
        400,
    ),
    "sampling asked for": (V1, {"json": {"instances": ["a"], "parameters": {"temperature": 1.0}}}, 400),
    "an unknown model": ("/v1/models/other:predict", {"json": {"instances": ["a"]}}, 404),
    "V2 malformed JSON": (V2, {"content": b'{"inputs": [', "headers": JSON}, 422),
    "V2 without inputs": (V2, {"json": {"inputs": []}}, 400),
    "V2 numbers": (
        V2,
        {"json": {"inputs": [{"name": "input", "shape": [1], "datatype": "INT32", "data": [1]}]}},
        400,
    ),
    "V2 shape mismatch": (
        V2,
        {"json": {"inputs": [{"name": "input", "shape": [3], "datatype": "BYTES", "data": ["a"]}]}},
        400,
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_gets_a_4xx_with_a_message_and_the_server_keeps_serving(client, case):
    path, request, status = BAD_REQUESTS[case]

    response = client.post(path, **request)

    assert response.status_code == status, response.text
    assert response.json().get("error") or response.json().get("detail")
    assert client.post(V1, json={"instances": ["still here"]}).status_code == 200


def test_the_demo_sidecar_answers_through_the_endpoint(server, client):
    answer, name = endpoint_answer(server.url)

    assert name == MODEL_NAME
    assert answer("word 1") == client.post(V1, json={"instances": ["word 1"]}).json()["predictions"][0]
    assert answer("a" * (MAX_INPUT_CHARS + 1)).startswith("error 400: input 0 has")
