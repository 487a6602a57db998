"""The KServe model in-process: the same answers as evaluation's predictor, V1 and V2, refusals, batching."""

import asyncio

import pytest
from kserve import InferInput, InferRequest
from kserve.errors import InvalidInput

from p2m_lib.errors import P2MError
from p2m_lib.serve.config import ServeConfig
from p2m_lib.serve.model import StudentModel
from p2m_lib.train import StudentPredictor

INPUTS = ["word 1", "a much longer input than the others, " * 3, "x", "hello there"]


class CountingPredictor:
    """The real predictor, counting its `predict` calls."""

    def __init__(self, predictor: StudentPredictor) -> None:
        self.predictor = predictor
        self.calls: list[int] = []

    def predict(self, inputs, batch_size=8, max_new_tokens=None):
        self.calls.append(len(inputs))
        return self.predictor.predict(inputs, batch_size=batch_size, max_new_tokens=max_new_tokens)


@pytest.fixture(scope="module")
def predictor(served_model_dir):
    return StudentPredictor.load(served_model_dir)


@pytest.fixture
def model(predictor, served_model_dir):
    model = StudentModel("tiny", served_model_dir, ServeConfig(max_wait_ms=100), CountingPredictor(predictor))
    model.load()
    yield model
    model.stop()


def _call(model, body):
    response, _headers = asyncio.run(model(body))
    return response


def test_v1_answers_are_the_evaluation_predictors_answers(model, predictor):
    expected = predictor.predict(INPUTS, batch_size=16)

    response = _call(model, {"instances": INPUTS})

    assert response == {"predictions": expected}
    assert len(set(expected)) > 1  # answers vary with the input: equality is a real check


def test_a_request_may_shorten_the_answers(model, predictor):
    response = _call(model, {"instances": INPUTS, "parameters": {"max_new_tokens": 1}})

    assert response["predictions"] == predictor.predict(INPUTS, batch_size=16, max_new_tokens=1)


def test_v2_answers_come_back_as_a_bytes_tensor_named_output(model, predictor):
    request = InferRequest("tiny", [InferInput("input", [2], "BYTES", INPUTS[:2])], request_id="req-7")

    rest, _ = asyncio.run(model(request))[0].to_rest()

    assert rest["id"] == "req-7"
    assert rest["outputs"] == [
        {
            "name": "output",
            "shape": [2],
            "datatype": "BYTES",
            "data": predictor.predict(INPUTS[:2], batch_size=16),
        }
    ]


def test_a_bad_request_is_kserves_invalid_input(model):
    with pytest.raises(InvalidInput, match="input 0 is a number"):
        _call(model, {"instances": [1]})
    assert model.predictor.calls == []


def test_concurrent_requests_are_answered_by_fewer_predict_calls(model, predictor):
    async def six_clients():
        return await asyncio.gather(*(model({"instances": [text]}) for text in INPUTS + ["y", "z"]))

    responses = asyncio.run(six_clients())

    assert [response["predictions"][0] for response, _ in responses] == [
        predictor.predict([text])[0] for text in INPUTS + ["y", "z"]
    ]
    assert sum(model.predictor.calls) == 6
    assert len(model.predictor.calls) < 6


def test_loading_reads_the_model_folder_and_refuses_other_folders(served_model_dir, tiny_causal_lm_dir):
    model = StudentModel("tiny", served_model_dir)

    assert model.load() and model.ready
    assert model.predictor.template.instruction == "Repeat the word."
    with pytest.raises(P2MError, match="p2m_template.json"):
        StudentModel("base", tiny_causal_lm_dir).load()


def test_metadata_describes_one_bytes_input_and_output(model):
    assert model.get_input_types() == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    assert model.get_output_types() == [{"name": "output", "datatype": "BYTES", "shape": [-1]}]
