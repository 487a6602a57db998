"""Request checks: what V1 and V2 bodies are accepted, and the message for each refusal."""

import pytest
from kserve import InferInput, InferRequest
from kserve.protocol.infer_type import RequestedOutput

from p2m_lib.serve.config import ServeConfig
from p2m_lib.serve.protocol import BadRequest, parse_v1, parse_v2

CONFIG = ServeConfig(max_instances=3, max_input_chars=10, max_new_tokens_limit=8)


def test_v1_body_gives_the_inputs_and_the_answer_length():
    query = parse_v1({"instances": ["a", "b"], "parameters": {"max_new_tokens": 4}}, CONFIG)

    assert query.inputs == ("a", "b")
    assert query.max_new_tokens == 4
    assert query.v2_request is None
    assert parse_v1({"instances": ["a"]}, CONFIG).max_new_tokens is None


def test_v1_body_left_undecoded_by_kserve_is_read_as_json():
    assert parse_v1(b'{"instances": ["a"]}', CONFIG).inputs == ("a",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"instances": ["a"', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (["a"], "must be a JSON object"),
        ({"instance": ["a"]}, 'no "instances"'),
        ({"instances": "a"}, "must be a list of strings"),
        ({"instances": []}, "no inputs"),
        ({"instances": ["a", 3]}, "input 1 is a number, not a string"),
        ({"instances": [None]}, "input 0 is a null"),
        ({"instances": [["a"]]}, "input 0 is a list"),
        ({"instances": ["a" * 11]}, "input 0 has 11 characters; the limit is 10"),
        ({"instances": ["a"] * 4}, "4 inputs in one request; the limit is 3"),
        ({"instances": ["a"], "extra": 1}, "unknown field"),
        ({"instances": ["a"], "parameters": {"temperature": 0.7}}, "only max_new_tokens"),
        ({"instances": ["a"], "parameters": {"max_new_tokens": 9}}, "from 1 to 8"),
        ({"instances": ["a"], "parameters": {"max_new_tokens": 0}}, "from 1 to 8"),
        ({"instances": ["a"], "parameters": {"max_new_tokens": True}}, "from 1 to 8"),
        ({"instances": ["a"], "parameters": {"max_new_tokens": "4"}}, "from 1 to 8"),
        ({"instances": ["a"], "parameters": [4]}, '"parameters" must be a JSON object'),
    ],
)
def test_bad_v1_bodies_are_refused_with_a_message(body, message):
    with pytest.raises(BadRequest, match=message):
        parse_v1(body, CONFIG)


def _v2(data, shape=None, datatype="BYTES", parameters=None, outputs=None, inputs=None):
    tensor = InferInput("input", shape or [len(data)], datatype, data)
    return InferRequest("m", inputs if inputs is not None else [tensor], "req-1", parameters=parameters,
                        request_outputs=outputs)  # fmt: skip


def test_v2_request_gives_the_inputs_and_keeps_the_request_for_the_answer():
    request = _v2(["a", "b"], parameters={"max_new_tokens": 2, "binary_data_output": False})

    query = parse_v2(request, CONFIG)

    assert query.inputs == ("a", "b")
    assert query.max_new_tokens == 2
    assert query.v2_request is request
    assert parse_v2(_v2([["a"], ["b"]], shape=[2, 1]), CONFIG).inputs == ("a", "b")


def test_v2_binary_strings_are_decoded():
    assert parse_v2(_v2([b"caf\xc3\xa9"]), CONFIG).inputs == ("café",)


@pytest.mark.parametrize(
    ("request_args", "message"),
    [
        ({"data": ["a"], "inputs": []}, "exactly one input tensor"),
        ({"data": [1, 2], "datatype": "INT32"}, "datatype BYTES, not INT32"),
        ({"data": ["a", "b"], "shape": [3]}, "does not match shape"),
        ({"data": ["a", "b"], "shape": [1, 2]}, r"shape \[n\] or \[n, 1\]"),
        ({"data": [1]}, "input 0 is a number"),
        ({"data": [b"\xff"]}, "not valid UTF-8"),
        ({"data": ["a"] * 4}, "the limit is 3"),
        ({"data": ["a"], "parameters": {"top_p": 0.9}}, "only max_new_tokens"),
        ({"data": ["a"], "outputs": [RequestedOutput("logits")]}, "unknown output 'logits'"),
    ],
)
def test_bad_v2_requests_are_refused_with_a_message(request_args, message):
    with pytest.raises(BadRequest, match=message):
        parse_v2(_v2(**request_args), CONFIG)
