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
    fleet: Annotated[
        Path | None, typer.Option(help="A fleet file: one run per task, under the fleet's experiment.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --fleet: also tasks whose identical inputs have a run.")
    ] = False,
    schedule: Annotated[
        str | None, typer.Option(help="With --fleet: recurring runs on this cron schedule, to retrain.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --fleet: print the runs as JSON lines; send nothing.")
    ] = False,
) -> None:
    """Submit a pipeline run to a KFP v2 cluster; prints the run id on stdout.

    With --fleet: one run per task of the fleet file (a line per task: name, action, id, run name)."""
    from p2m_lib.errors import P2MError
    from pipelines.submit import IN_CLUSTER_HOST, Submission, submit

    if fleet is not None:
        from p2m_lib.cli.fleet import submit_fleet_file

        if param or prompt_file or run_name or pipeline != "prompt2model":
            raise P2MError(
                "--fleet takes every task's parameters from the fleet file: drop -P, -p, --run-name"
            )
        submission = Submission(
            host=host or IN_CLUSTER_HOST,
            namespace=namespace,
            service_account=service_account,
            timeout=timeout,
        )
        submit_fleet_file(fleet, submission, force, schedule, dry_run)
        return
    if force or schedule or dry_run:
        raise P2MError("--force, --schedule and --dry-run go with --fleet")
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
