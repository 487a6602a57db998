"""Fleet commands: `p2m run --fleet`, `p2m submit --fleet` and `p2m status`.

kfp and the `pipelines` package are imported inside the functions, so the rest of p2m never loads them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from p2m_lib.progress import console

if TYPE_CHECKING:
    from p2m_lib.fleet import Fleet
    from p2m_lib.serve.rollout import ServiceState
    from pipelines.fleet import LocalOutcome
    from pipelines.submit import Submission

FleetFile = Annotated[Path | None, typer.Option("--fleet", help="A fleet file: many tasks at once.")]


def run_fleet(fleet_file: Path, out_root: Path, parallel: int) -> None:
    """Run every task of the fleet locally into `out_root/<task>/`; a final table says how each ended.

    Raises:
        typer.Exit: With status 1 when a task failed (after every task ran).
    """
    from rich.table import Table

    from p2m_lib.fleet import load_fleet
    from pipelines.fleet import run_fleet_locally

    fleet = load_fleet(fleet_file)

    def finished(outcome: LocalOutcome) -> None:
        how = f"failed: {outcome.error}" if outcome.error else "finished"
        console.print(f"task {outcome.task}: {how}", highlight=False)

    outcomes = run_fleet_locally(fleet, out_root, parallel, finished)
    table = Table(title=f"fleet {fleet.path}")
    for column in ("task", "result", "student EM", "teacher EM", "gate", "run folder or error"):
        table.add_column(column)
    for outcome in outcomes:
        gate = (outcome.summary or {}).get("gate") or {}
        table.add_row(
            outcome.task,
            "failed" if outcome.error else "success",
            f"{gate['student_exact_match']:.1f}" if gate else "—",
            f"{gate['teacher_exact_match']:.1f}" if gate else "—",
            ("promote" if gate["promote"] else "held back") if gate else "—",
            outcome.error or str(outcome.out_dir),
        )
    console.print(table)
    failed = [outcome.task for outcome in outcomes if outcome.error]
    if failed:
        console.print(f"{len(failed)} of {len(outcomes)} tasks failed: {', '.join(failed)}", highlight=False)
        raise typer.Exit(1)


def submit_fleet_file(
    fleet_file: Path, submission: Submission, force: bool, schedule: str | None, dry_run: bool
) -> None:
    """Submit one run per task (see `pipelines.fleet.submit_fleet`); print what was done, a line per task.

    With `dry_run`, print the runs it would create as JSON, one object per line (name, run_name,
    parameters), and send nothing.
    """
    from p2m_lib.fleet import load_fleet
    from pipelines.fleet import compiled_pipeline, cron_schedule, plan_runs, submit_fleet

    fleet = load_fleet(fleet_file)
    if dry_run:
        if schedule:
            cron_schedule(schedule)
        with compiled_pipeline() as package:
            for planned in plan_runs(fleet, package.read_text(encoding="utf-8")):
                typer.echo(json.dumps(planned.to_dict(), ensure_ascii=False))
        return
    for done in submit_fleet(fleet, submission, force, schedule):
        reason = f"  ({done.reason})" if done.reason else ""
        typer.echo(f"{done.task}\t{done.action}\t{done.run_id}\t{done.run_name}{reason}")


def status_command(
    fleet_file: FleetFile = None,
    host: Annotated[
        str | None, typer.Option(envvar="KFP_HOST", help="KFP API URL; without it, runs are not listed.")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Kubeflow profile namespace.")] = None,
    experiment: Annotated[str | None, typer.Option(help="Experiment (default: the fleet's, or p2m).")] = None,
    runs: Annotated[
        Path | None, typer.Option(help="Folder of `p2m run --fleet` run folders, for their scores.")
    ] = None,
    service_namespace: Annotated[
        str, typer.Option(help="Namespace of the services; default: the kubeconfig context's.")
    ] = "",
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig file; default: the usual lookup.")
    ] = None,
    kube: Annotated[
        bool, typer.Option("--kube/--no-kube", help="Ask Kubernetes about the endpoints.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the KFP host to answer.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: a list of tasks.")] = False,
) -> None:
    """Every task: latest run and state, student and teacher scores, gate decision, endpoint."""
    from rich.table import Table

    from p2m_lib.fleet import load_fleet
    from p2m_lib.fleet.status import COLUMNS, task_status
    from p2m_lib.stages import read_json

    fleet = load_fleet(fleet_file) if fleet_file else None
    names = [task.name for task in fleet.tasks] if fleet else None
    latest = {}
    if host:
        from pipelines.fleet import latest_runs
        from pipelines.submit import Submission

        submission = Submission(host=host, namespace=namespace, timeout=timeout)
        chosen = experiment or (fleet.experiment if fleet else "p2m")
        latest = {
            task: asdict(run) for task, run in latest_runs(submission, chosen, set(names or [])).items()
        }
    endpoints = _endpoints(fleet, service_namespace, kubeconfig) if kube else {}
    summaries = {}
    if runs is not None:
        summaries = {path.parent.name: read_json(path) for path in sorted(runs.glob("*/summary.json"))}
    if names is None:
        names = sorted(set(latest) | set(endpoints) | set(summaries))
    statuses = [
        task_status(name, latest.get(name), summaries.get(name), endpoints.get(name)) for name in names
    ]
    if as_json:
        typer.echo(json.dumps([status.to_dict() for status in statuses]))
        return
    table = Table(title="p2m tasks")
    for column in COLUMNS:
        table.add_column(column)
    for status in statuses:
        table.add_row(*status.cells())
    console.print(table)


def _endpoints(fleet: Fleet | None, namespace: str, kubeconfig: Path | None) -> dict[str, ServiceState]:
    """Each task's InferenceService state by task name: the fleet's services, else p2m's in `namespace`."""
    from p2m_lib.kube import api_client, current_namespace
    from p2m_lib.serve.rollout import p2m_services, service_state

    api = api_client(kubeconfig)
    default = namespace or current_namespace(kubeconfig)
    if fleet is None:
        return {state.name: state for state in p2m_services(api, default)}
    found = {
        task.name: service_state(api, task.service_name, task.deploy.namespace or default)
        for task in fleet.tasks
    }
    return {name: state for name, state in found.items() if state is not None}
