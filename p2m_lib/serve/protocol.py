"""What a client may send: V1 and V2 (open inference protocol) request bodies, checked.

A client sends raw task inputs, never prompts: the server wraps each one in the template the
model was trained with. Every check failure is a `BadRequest` whose message tells the client
what to change; the server answers it with a 400.

V1: ``{"instances": ["text", ...], "parameters": {"max_new_tokens": 8}}`` (parameters optional).
V2: one BYTES input tensor of shape [n] (or [n, 1]) holding n strings; the same optional
``parameters`` at the request's top level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from p2m_lib.serve.config import ServeConfig

V2_INPUT_NAME = "input"
V2_OUTPUT_NAME = "output"
# Decoding is greedy, as in evaluation: only the answer's length may be chosen per request.
REQUEST_PARAMETERS = ("max_new_tokens",)
# The V2 binary data extension's switch, read by KServe when it writes the response.
V2_BINARY_OUTPUT = "binary_data_output"


class BadRequest(ValueError):
    """A request the server refuses; its message is sent back to the client."""


@dataclass(frozen=True)
class Query:
    """A checked request: the inputs to answer and how.

    Attributes:
        inputs: Raw task inputs, in request order.
        max_new_tokens: Longest answer in tokens; None for the model folder's setting.
        v2_request: The V2 request (its id and output options shape the response); None for V1.
    """

    inputs: tuple[str, ...]
    max_new_tokens: int | None = None
    v2_request: Any = None


def parse_v1(body: Any, config: ServeConfig) -> Query:
    """Check a V1 body (`:predict`): as KServe decoded it, or raw bytes it left undecoded.

    KServe decodes JSON only when the content type says so; a client that sends JSON as
    `text/plain` (curl's `-d` says form data) gets the same answer as one that labels it.

    Raises:
        BadRequest: If the body is not a JSON object with a list of strings under "instances",
            or breaks a limit of `config`.
    """
    if isinstance(body, bytes | str):
        body = _json(body)
    if not isinstance(body, Mapping):
        raise BadRequest('the body must be a JSON object like {"instances": ["text", ...]}')
    if "instances" not in body:
        raise BadRequest('the body has no "instances": send {"instances": ["text", ...]}')
    unknown = sorted(set(body) - {"instances", "parameters"})
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}: only instances and parameters are read")
    instances = body["instances"]
    if not isinstance(instances, list):
        raise BadRequest('"instances" must be a list of strings')
    return Query(
        inputs=_checked_inputs(instances, config),
        max_new_tokens=_max_new_tokens(body.get("parameters"), config),
    )


def parse_v2(request: Any, config: ServeConfig) -> Query:
    """Check a decoded V2 request (`kserve.InferRequest`, from REST JSON or binary data).

    Raises:
        BadRequest: If the request does not hold exactly one BYTES input of n strings, asks for
            an output other than "output", or breaks a limit of `config`.
    """
    if len(request.inputs) != 1:
        raise BadRequest(f"send exactly one input tensor (BYTES, shape [n]), not {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.datatype != "BYTES":
        raise BadRequest(f"input {tensor.name!r} must have datatype BYTES, not {tensor.datatype}")
    for output in request.request_outputs or []:
        if output.name != V2_OUTPUT_NAME:
            raise BadRequest(f"unknown output {output.name!r}: this model has one output, {V2_OUTPUT_NAME!r}")
    parameters = request.parameters
    if isinstance(parameters, Mapping):
        parameters = {name: value for name, value in parameters.items() if name != V2_BINARY_OUTPUT}
    return Query(
        inputs=_checked_inputs(_tensor_strings(tensor), config),
        max_new_tokens=_max_new_tokens(parameters, config),
        v2_request=request,
    )


def _json(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None


def _tensor_strings(tensor: Any) -> list[Any]:
    shape = list(tensor.shape)
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise BadRequest(f"input {tensor.name!r} must have shape [n] or [n, 1], not {shape}")
    try:
        values = tensor.as_numpy().reshape(-1).tolist()
    except (ValueError, TypeError) as error:
        raise BadRequest(f"input {tensor.name!r}: its data does not match shape {shape} ({error})") from None
    # JSON data arrives as str; the binary extension delivers bytes.
    return [_decoded(value) for value in values]


def _decoded(value: Any) -> Any:
    if not isinstance(value, bytes):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("a BYTES element is not valid UTF-8 text") from None


def _checked_inputs(values: list[Any], config: ServeConfig) -> tuple[str, ...]:
    if not values:
        raise BadRequest("no inputs: send at least one string")
    if len(values) > config.max_instances:
        raise BadRequest(f"{len(values)} inputs in one request; the limit is {config.max_instances}")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise BadRequest(f"input {index} is a {_json_type(value)}, not a string")
        if len(value) > config.max_input_chars:
            raise BadRequest(
                f"input {index} has {len(value)} characters; the limit is {config.max_input_chars}"
            )
    return tuple(values)


def _max_new_tokens(parameters: Any, config: ServeConfig) -> int | None:
    if parameters is None:
        return None
    if not isinstance(parameters, Mapping):
        raise BadRequest('"parameters" must be a JSON object like {"max_new_tokens": 16}')
    unknown = sorted(set(parameters) - set(REQUEST_PARAMETERS))
    if unknown:
        raise BadRequest(
            f"unsupported parameter(s) {', '.join(unknown)}: decoding is greedy, as in evaluation; "
            "only max_new_tokens may be set"
        )
    value = parameters.get("max_new_tokens")
    if value is None:
        return None
    # bool is an int in Python, but `true` is no token count.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= config.max_new_tokens_limit:
        raise BadRequest(f"max_new_tokens must be an integer from 1 to {config.max_new_tokens_limit}")
    return value


_JSON_TYPES = {
    bool: "boolean",
    int: "number",
    float: "number",
    list: "list",
    dict: "object",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)
