"""`p2m serve`, `p2m demo` and `p2m deploy`: the trained model as an endpoint, a page, a cluster service.

The main CLI registers these commands with `register_serving_commands(app)`; the serving image
runs `serve` and `demo` alone through `python -m p2m_lib.serve` and `python -m p2m_lib.serve.demo`
(`single_command_app`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from p2m_lib.cli.common import user_errors
from p2m_lib.progress import console
from p2m_lib.serve import rollout
from p2m_lib.serve.config import DEFAULT_HTTP_PORT, DEFAULT_MODEL_NAME, ServeConfig
from p2m_lib.serve.deploy import DEFAULT_CANARY_PERCENT, DEFAULT_PREFIX, DEFAULT_TIMEOUT_S
from p2m_lib.serve.manifests import DEFAULT_SERVICE_ACCOUNT
from p2m_lib.serve.rollout import DEFAULT_TIMEOUT_S as ROLLOUT_TIMEOUT_S
from p2m_lib.serve.rollout import ServiceState

DEFAULTS = ServeConfig()


ModelDir = Annotated[Path, typer.Argument(help="A model folder, or a run folder (its model/ is used).")]
Host = Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface (containers).")]
MaxBatchSize = Annotated[
    int,
    typer.Option(
        envvar="P2M_SERVE_MAX_BATCH_SIZE", help="Most inputs decoded together; 1 turns batching off."
    ),
]
MaxWaitMs = Annotated[
    float, typer.Option(envvar="P2M_SERVE_MAX_WAIT_MS", help="Longest wait for a batch to fill, in ms.")
]


@user_errors
def serve(
    model_dir: ModelDir,
    name: Annotated[str, typer.Option(help="Model name in the routes (/v1/models/NAME:predict).")] = (
        DEFAULT_MODEL_NAME
    ),
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = DEFAULT_HTTP_PORT,
    max_batch_size: MaxBatchSize = DEFAULTS.max_batch_size,
    max_wait_ms: MaxWaitMs = DEFAULTS.max_wait_ms,
    max_instances: Annotated[
        int, typer.Option(envvar="P2M_SERVE_MAX_INSTANCES", help="Most inputs in one request.")
    ] = DEFAULTS.max_instances,
    max_input_chars: Annotated[
        int, typer.Option(envvar="P2M_SERVE_MAX_INPUT_CHARS", help="Longest input, in characters.")
    ] = DEFAULTS.max_input_chars,
    max_new_tokens_limit: Annotated[
        int,
        typer.Option(
            envvar="P2M_SERVE_MAX_NEW_TOKENS_LIMIT", help="Highest max_new_tokens a request may ask."
        ),
    ] = DEFAULTS.max_new_tokens_limit,
) -> None:
    """Serve a trained model with KServe: V1 and V2 REST routes, concurrent requests batched."""
    from p2m_lib.serve.config import find_model_dir
    from p2m_lib.serve.server import serve_model

    config = ServeConfig(max_batch_size, max_wait_ms, max_instances, max_input_chars, max_new_tokens_limit)
    serve_model(find_model_dir(model_dir), name=name, host=host, port=port, config=config)


@user_errors
def demo(
    model_dir: Annotated[
        Path | None, typer.Argument(help="A model or run folder; or use --endpoint.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="A running server's URL (the cluster sidecar: http://127.0.0.1:8080).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Model name at --endpoint; default: its only model.")
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for --endpoint to come up.")] = 0.0,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the page.")] = 7860,
) -> None:
    """Open a Gradio page on the model (needs the optional gradio package)."""
    from p2m_lib.serve.config import find_model_dir
    from p2m_lib.serve.demo import require_gradio, run_demo

    require_gradio()  # before a model folder is looked at or loaded
    folder = find_model_dir(model_dir) if model_dir is not None else None
    run_demo(folder, endpoint=endpoint, name=name, wait_s=wait, host=host, port=port)


@user_errors
def deploy(
    run_dir: ModelDir,
    namespace: Annotated[str, typer.Option(help="Namespace; default: the kubeconfig context's.")] = "",
    name: Annotated[str | None, typer.Option(help="InferenceService name; default: from RUN_DIR.")] = None,
    bucket: Annotated[str, typer.Option(envvar="P2M_S3_BUCKET", help="S3 bucket for the model.")] = "",
    prefix: Annotated[str, typer.Option(help="Key prefix in the bucket.")] = DEFAULT_PREFIX,
    service_account: Annotated[
        str, typer.Option(help="Service account whose secret holds the S3 credentials and annotations.")
    ] = DEFAULT_SERVICE_ACCOUNT,
    image: Annotated[
        str | None, typer.Option(help="Serving image; default from P2M_IMAGE_REGISTRY/TAG.")
    ] = None,
    cpu: Annotated[str, typer.Option(help="CPU request and limit.")] = "1",
    memory: Annotated[str, typer.Option(help="Memory request and limit.")] = "2Gi",
    gpus: Annotated[int, typer.Option(help="nvidia.com/gpu limit.")] = 0,
    min_replicas: Annotated[int, typer.Option(help="Fewest replicas (0: scale to zero, Serverless).")] = 1,
    max_replicas: Annotated[int, typer.Option(help="Most replicas.")] = 1,
    canary_percent: Annotated[
        int,
        typer.Option(
            help="Traffic % for the new model of an existing service until `p2m promote` (100: all of it; "
            "Serverless only)."
        ),
    ] = DEFAULT_CANARY_PERCENT,
    deployment_mode: Annotated[
        str | None, typer.Option(help="Serverless or RawDeployment; default: the cluster's.")
    ] = None,
    max_batch_size: MaxBatchSize = DEFAULTS.max_batch_size,
    max_wait_ms: MaxWaitMs = DEFAULTS.max_wait_ms,
    with_demo: Annotated[bool, typer.Option("--demo", help="Add the Gradio demo sidecar.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Ready.")] = DEFAULT_TIMEOUT_S,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig file; default: the usual lookup.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the manifests; touch nothing.")] = False,
) -> None:
    """Upload the trained model to S3 and serve it as a KServe InferenceService; print its URL.

    A new model of an existing service is a canary until `p2m promote` or `p2m rollback`; a run
    folder's lineage (prompt, training data, teacher, gate) goes into annotations and the card."""
    import yaml

    from p2m_lib.serve.config import find_model_dir
    from p2m_lib.serve.deploy import deploy_model
    from p2m_lib.serve.lineage import run_folder_lineage

    model_dir = find_model_dir(run_dir)
    result = deploy_model(
        model_dir,
        name=name or default_service_name(run_dir),
        namespace=namespace,
        bucket=bucket,
        prefix=prefix,
        service_account=service_account,
        image=image,
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        canary_traffic_percent=canary_percent,
        deployment_mode=deployment_mode,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        demo=with_demo,
        timeout_s=timeout,
        kubeconfig=kubeconfig,
        dry_run=dry_run,
        lineage=run_folder_lineage(model_dir.parent),
    )
    if dry_run:
        typer.echo(yaml.safe_dump_all(result.manifests, sort_keys=False), nl=False)
        return
    console.print(
        f"{result.action} InferenceService {result.namespace}/{result.name} serving {result.storage_uri} "
        f"({result.uploaded} files uploaded)",
        highlight=False,
    )
    typer.echo(result.url)


ServiceName = Annotated[str, typer.Argument(help="The InferenceService's name.")]
Namespace = Annotated[str, typer.Option(help="Its namespace; default: the kubeconfig context's.")]
Kubeconfig = Annotated[Path | None, typer.Option(help="Kubeconfig file; default: the usual lookup.")]
RolloutTimeout = Annotated[float, typer.Option(help="Seconds to wait for KServe to report the change.")]


def _rollout_command(
    change: Callable[..., tuple[ServiceState, ServiceState]],
    outcome: Callable[[ServiceState, ServiceState], str],
    summary: str,
) -> Callable[..., None]:
    """A command that changes a service's traffic split with `change` and prints `outcome`."""

    @user_errors
    def command(
        name: ServiceName,
        namespace: Namespace = "",
        kubeconfig: Kubeconfig = None,
        timeout: RolloutTimeout = ROLLOUT_TIMEOUT_S,
    ) -> None:
        before, after = change(name, namespace, kubeconfig, timeout)
        console.print(f"{outcome(before, after)}; traffic: {after.split()}", highlight=False)

    command.__doc__ = summary
    return command


promote = _rollout_command(
    rollout.promote,
    lambda before, after: (
        f"promoted {after.namespace}/{after.name}: {before.canary.name} now takes all traffic "
        f"(was {before.canary.percent}%)"
    ),
    "Send all traffic to the canary: the newest model of the service replaces the previous one.",
)
rollback = _rollout_command(
    rollout.rollback,
    lambda before, after: (
        f"rolled back {after.namespace}/{after.name}: {before.previous.name} takes all traffic again, "
        f"{before.canary.name} none"
    ),
    "Send all traffic back to the previous model: the canary gets none.",
)


def default_service_name(run_dir: Path) -> str:
    """An InferenceService name from a run folder's name: lowercase, "-" for anything else, at most 45."""
    folder = Path(run_dir).resolve()
    base = folder.parent.name if folder.name == "model" else folder.name
    name = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"p2m-{name}".rstrip("-")
    return name[:45].rstrip("-")


COMMANDS = {"serve": serve, "demo": demo, "deploy": deploy, "promote": promote, "rollback": rollback}


def register_serving_commands(app: typer.Typer) -> None:
    """Add `serve`, `demo`, `deploy`, `promote` and `rollback` to the main CLI."""
    for name, command in COMMANDS.items():
        app.command(name)(command)


def single_command_app(name: str) -> typer.Typer:
    """A CLI made of the one command `name` (for `python -m p2m_lib.serve`)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name)(COMMANDS[name])
    return app
