"""`p2m submit`: a pipeline run on a KFP v2 cluster through `kfp.Client`, with early, clear errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from typing import Any

from kfp.dsl import graph_component
from kfp.pipeline_spec import pipeline_spec_pb2

from p2m_lib.errors import P2MError
from pipelines.index import build_index_pipeline
from pipelines.prompt2model import build_prompt2model

PIPELINES: dict[str, Callable[[], graph_component.GraphComponent]] = {
    "prompt2model": build_prompt2model,
    "index": build_index_pipeline,
}
# Where the KFP API answers inside the cluster (a notebook or a pod in the kubeflow namespace).
IN_CLUSTER_HOST = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
_TYPE_NAMES = pipeline_spec_pb2.ParameterType.ParameterTypeEnum


@dataclass(frozen=True)
class Submission:
    """Where and how to submit.

    Attributes:
        host: The KFP API's URL.
        namespace: The Kubeflow profile namespace (multi-user clusters); None for the client's default.
        experiment: The experiment the run is filed under.
        run_name: The run's name; None for one derived from the pipeline.
        service_account: The service account the run's pods use (see manifests/rbac.yaml).
        timeout: Seconds to wait for the host to answer before giving up.
    """

    host: str = IN_CLUSTER_HOST
    namespace: str | None = None
    experiment: str = "p2m"
    run_name: str | None = None
    service_account: str | None = None
    timeout: float = 10.0


def pipeline_arguments(pipeline: graph_component.GraphComponent, pairs: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings as the pipeline's typed parameters.

    Values are read by the parameter's type: numbers, true/false, JSON for lists and objects,
    text as is for strings.

    Raises:
        P2MError: A pair without "=", an unknown parameter (the valid ones are listed), a value
            that is not of its parameter's type, or a required parameter left out.
    """
    specs = pipeline.pipeline_spec.root.input_definitions.parameters
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise P2MError(f"pipeline parameter {pair!r} is not KEY=VALUE")
        if key not in specs:
            raise P2MError(f"{pipeline.name} has no parameter {key!r}; valid: {', '.join(sorted(specs))}")
        arguments[key] = _typed(key, value, _TYPE_NAMES.Name(specs[key].parameter_type))
    missing = sorted(name for name, spec in specs.items() if not spec.is_optional and name not in arguments)
    if missing:
        raise P2MError(f"{pipeline.name} needs the parameter(s) {', '.join(missing)}")
    return arguments


def _typed(key: str, value: str, type_name: str) -> Any:
    readers: dict[str, Callable[[str], Any]] = {
        "STRING": str,
        "NUMBER_INTEGER": int,
        "NUMBER_DOUBLE": float,
        "BOOLEAN": _boolean,
        "LIST": json.loads,
        "STRUCT": json.loads,
    }
    try:
        typed = readers[type_name](value)
    except ValueError:
        typed = None
    expected = {"LIST": list, "STRUCT": dict}.get(type_name)
    if typed is None or (expected and not isinstance(typed, expected)):
        raise P2MError(
            f"pipeline parameter {key}={value!r} is not a valid {type_name.lower().replace('_', ' ')}"
        )
    return typed


def _boolean(value: str) -> bool:
    words = {"true": True, "false": False}
    if value.lower() not in words:
        raise ValueError(value)
    return words[value.lower()]


def check_reachable(host: str, timeout: float) -> None:
    """Fail fast when nothing answers at `host` (any HTTP answer, even an error, will do).

    Raises:
        P2MError: The host cannot be connected to within `timeout` seconds.
    """
    import httpx

    try:
        httpx.get(f"{host.rstrip('/')}/apis/v2beta1/healthz", timeout=timeout)
    except httpx.HTTPError as error:
        raise P2MError(
            f"cannot reach the KFP API at {host} ({type(error).__name__}: {error}); "
            "check --host (or KFP_HOST) and your port-forward or ingress"
        ) from None


def submit(pipeline_name: str, pairs: Sequence[str], submission: Submission) -> str:
    """Submit one run of a pipeline; returns the run's id.

    Args:
        pipeline_name: prompt2model or index.
        pairs: Pipeline parameters as KEY=VALUE.
        submission: Where and how to submit.

    Raises:
        P2MError: An unknown pipeline, a bad parameter, an unreachable host or a refused request.
    """
    if pipeline_name not in PIPELINES:
        raise P2MError(f"unknown pipeline {pipeline_name!r}; choose one of: {', '.join(PIPELINES)}")
    pipeline = PIPELINES[pipeline_name]()
    arguments = pipeline_arguments(pipeline, pairs)
    check_reachable(submission.host, submission.timeout)
    import kfp

    with kfp_requests(submission.host):
        client = kfp.Client(host=submission.host, namespace=submission.namespace or "kubeflow")
        result = client.create_run_from_pipeline_func(
            pipeline,
            arguments=arguments,
            run_name=submission.run_name,
            experiment_name=submission.experiment,
            namespace=submission.namespace,
            service_account=submission.service_account,
        )
    return result.run_id


@contextmanager
def kfp_requests(host: str) -> Iterator[None]:
    """Calls of `kfp.Client`: refusals as one-line errors, and the client's "Run details: <link>"
    lines sent to stderr, so that stdout holds only what p2m prints (a run id a script captures)."""
    from kfp_server_api.exceptions import ApiException

    try:
        with redirect_stdout(sys.stderr):
            yield
    except ApiException as error:
        raise P2MError(f"the KFP API at {host} refused a request: {error.status} {error.reason}") from None
