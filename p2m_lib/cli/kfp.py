"""`p2m compile` and `p2m submit`: the Kubeflow pipelines as YAML, and runs on a KFP v2 cluster.

kfp and the `components`/`pipelines` packages are imported inside the commands, so the rest of
p2m never loads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from p2m_lib.progress import console


def compile_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for prompt2model.yaml and index.yaml.")],
    work_volume: Annotated[
        str,
        typer.Option(help="A PVC that resumable steps mount at /p2m-work (pass work_dir=/p2m-work/NAME)."),
    ] = "",
) -> None:
    """Compile the prompt2model and index pipelines to KFP IR YAML with their Kubernetes settings."""
    from pipelines.compile import compile_pipelines

    for path in compile_pipelines(out, work_volume):
        console.print(f"wrote {path}", highlight=False)


def submit_command(
    param: Annotated[
        list[str] | None, typer.Option("--param", "-P", help="A pipeline parameter, KEY=VALUE (repeatable).")
    ] = None,
    prompt_file: Annotated[
        Path | None, typer.Option("--prompt-file", "-p", help="Read the prompt parameter from this file.")
    ] = None,
    pipeline: Annotated[str, typer.Option(help="prompt2model or index.")] = "prompt2model",
    host: Annotated[
        str | None, typer.Option(envvar="KFP_HOST", help="KFP API URL (default: the in-cluster address).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Kubeflow profile namespace.")] = None,
    experiment: Annotated[str, typer.Option(help="Experiment to file the run under.")] = "p2m",
    run_name: Annotated[str | None, typer.Option(help="Name of the run.")] = None,
    service_account: Annotated[str | None, typer.Option(help="Service account of the run's pods.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the host to answer.")] = 10.0,
) -> None:
    """Submit a pipeline run to a KFP v2 cluster; prints the run id on stdout."""
    from pipelines.submit import IN_CLUSTER_HOST, Submission, submit

    pairs = list(param or [])
    if prompt_file is not None:
        from p2m_lib.parse import read_prompt

        pairs.append(f"prompt={read_prompt(prompt_file)}")
    submission = Submission(
        host=host or IN_CLUSTER_HOST,
        namespace=namespace,
        experiment=experiment,
        run_name=run_name,
        service_account=service_account,
        timeout=timeout,
    )
    typer.echo(submit(pipeline, pairs, submission))
