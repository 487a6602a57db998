"""A fleet's tasks as runs: on a KFP cluster (`p2m submit --fleet`) or on this machine (`p2m run --fleet`).

On a cluster the prompt2model pipeline is compiled once and every task becomes one run (or, with a
schedule, one recurring run) under the fleet's experiment, named `<task>-<fingerprint>`: the
fingerprint is a sha256 of the compiled pipeline and the task's parameters, so a task whose inputs
did not change finds its earlier run by name and is skipped, while a changed prompt, setting or
p2m version makes a new run. Locally every task runs on KFP's local runner into `<out>/<task>/`,
one after another or several at once in worker processes; a task that fails is reported and the
others go on.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from components.runtime import run_profile
from p2m_lib.errors import P2MError
from p2m_lib.fleet import Fleet, FleetTask
from p2m_lib.stages import LabelledData
from pipelines.local import RunOptions, run_pipeline_locally
from pipelines.submit import Submission, check_reachable, kfp_requests

FINGERPRINT_CHARS = 12
# States of an earlier run with the same inputs that make a new one pointless, as a reason says them.
KEPT_STATES = {"SUCCEEDED": "succeeded", "RUNNING": "is running", "PENDING": "is pending"}
_RUN_NAME = re.compile(rf"^(?P<task>[a-z][-a-z0-9]*)-[0-9a-f]{{{FINGERPRINT_CHARS}}}$")
# Runs looked at per task for `p2m status`: enough pages of the experiment's newest runs.
STATUS_PAGES = 10


@dataclass(frozen=True)
class PlannedRun:
    """One task's run as it would be submitted."""

    task: str
    run_name: str
    parameters: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.task, "run_name": self.run_name, "parameters": self.parameters}


@dataclass(frozen=True)
class Submitted:
    """What submitting one task did: action "created", "scheduled" or "skipped" (with the reason)."""

    task: str
    run_name: str
    action: str
    run_id: str
    reason: str = ""


@dataclass(frozen=True)
class RunInfo:
    """A KFP run of a task, for `p2m status`."""

    run_id: str
    run_name: str
    state: str
    created_at: str


def task_parameters(fleet: Fleet, task: FleetTask) -> dict[str, Any]:
    """The prompt2model parameters of one task on a cluster (data files at their cluster paths).

    Raises:
        P2MError: A training or generation field the profile does not have, a data file the
            cluster cannot be told about, or a deployment without a bucket; named with the task.
    """
    where = f"{fleet.path}: task {task.name}"
    try:
        run_profile(task.profile, task.num_examples, task.generation, task.training)
    except P2MError as error:
        raise P2MError(f"{where}: {error}") from None
    if task.deploy.enabled and not task.deploy.bucket:
        raise P2MError(f"{where}: deploy.bucket is required to deploy (the S3 bucket for the model)")
    deploy = task.deploy
    return {
        "prompt": task.prompt,
        "profile": task.profile,
        "num_examples": task.num_examples,
        "generation": dict(task.generation),
        "training": dict(task.training),
        "seed": task.seed,
        "teacher": task.teacher,
        "teacher_base_url": task.teacher_base_url,
        "teacher_model": task.teacher_model,
        "student": task.student,
        "dataset_path": fleet.cluster_path(task.dataset) if task.dataset else "",
        "input_col": task.input_col,
        "output_col": task.output_col,
        "test_dataset_path": fleet.cluster_path(task.test_dataset) if task.test_dataset else "",
        "test_input_col": task.test_input_col,
        "test_output_col": task.test_output_col,
        "gate": task.gate.to_parameter(),
        "deploy": deploy.enabled,
        "namespace": deploy.namespace,
        "s3_bucket": deploy.bucket,
        "s3_prefix": deploy.prefix,
        "service_name": task.service_name,
        "min_replicas": deploy.min_replicas,
        "max_replicas": deploy.max_replicas,
        "serving_cpu": deploy.cpu,
        "serving_memory": deploy.memory,
        "serving_gpus": deploy.gpus,
        "canary_percent": deploy.canary_percent,
    }


def plan_runs(fleet: Fleet, pipeline_yaml: str) -> list[PlannedRun]:
    """Every task's run: its name (task and fingerprint) and parameters."""
    pipeline_digest = hashlib.sha256(pipeline_yaml.encode("utf-8")).hexdigest()
    planned = []
    for task in fleet.tasks:
        parameters = task_parameters(fleet, task)
        inputs = json.dumps({"pipeline": pipeline_digest, "parameters": parameters}, sort_keys=True)
        fingerprint = hashlib.sha256(inputs.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]
        planned.append(PlannedRun(task.name, f"{task.name}-{fingerprint}", parameters))
    return planned


@contextmanager
def compiled_pipeline() -> Iterator[Path]:
    """The prompt2model pipeline compiled once, as a YAML file for the runs' specs."""
    from kfp import compiler

    from pipelines.prompt2model import build_prompt2model

    with tempfile.TemporaryDirectory(prefix="p2m-fleet-") as scratch:
        path = Path(scratch) / "prompt2model.yaml"
        compiler.Compiler().compile(build_prompt2model(), str(path))
        yield path


def cron_schedule(expression: str) -> str:
    """A cron expression as KFP takes it: 6 fields, seconds first (a 5-field one runs at second 0).

    Raises:
        P2MError: Not 5 or 6 fields.
    """
    fields = expression.split()
    if len(fields) == 5:
        return " ".join(["0", *fields])
    if len(fields) == 6:
        return " ".join(fields)
    raise P2MError(
        f"--schedule {expression!r} is no cron expression: give 5 fields (minute hour day month weekday) "
        "or 6 (seconds first)"
    )


def submit_fleet(
    fleet: Fleet, submission: Submission, force: bool = False, schedule: str | None = None
) -> list[Submitted]:
    """Create one run (or, with `schedule`, one recurring run) per task under the fleet's experiment.

    Args:
        fleet: The fleet file, read.
        submission: Where and how to submit (its experiment and run name are the fleet's).
        force: Submit even the tasks whose identical inputs already have a run.
        schedule: A cron expression: recurring runs that retrain on it.

    Raises:
        P2MError: A bad task (before anything is sent), an unreachable host, a refused request.
    """
    cron = cron_schedule(schedule) if schedule else None
    with compiled_pipeline() as package:
        planned = plan_runs(fleet, package.read_text(encoding="utf-8"))
        check_reachable(submission.host, submission.timeout)
        with kfp_requests(submission.host):
            client = _client(submission)
            experiment = client.create_experiment(fleet.experiment, namespace=submission.namespace)
            return [
                _submit_one(client, experiment.experiment_id, run, package, submission, force, cron)
                for run in planned
            ]


def _submit_one(
    client: Any,
    experiment_id: str,
    run: PlannedRun,
    package: Path,
    submission: Submission,
    force: bool,
    cron: str | None,
) -> Submitted:
    common = {
        "experiment_id": experiment_id,
        "job_name": run.run_name,
        "pipeline_package_path": str(package),
        "params": run.parameters,
        "service_account": submission.service_account,
    }
    by_name = _name_filter(run.run_name)
    if cron:
        if not force:
            found = client.list_recurring_runs(experiment_id=experiment_id, filter=by_name, page_size=100)
            for recurring in found.recurring_runs or []:
                reason = f"unchanged: recurring run {recurring.recurring_run_id} already retrains it"
                return Submitted(run.task, run.run_name, "skipped", recurring.recurring_run_id, reason)
        created = client.create_recurring_run(cron_expression=cron, no_catchup=True, **common)
        return Submitted(run.task, run.run_name, "scheduled", created.recurring_run_id, f"cron {cron}")
    if not force:
        found = client.list_runs(experiment_id=experiment_id, filter=by_name, page_size=100)
        for earlier in found.runs or []:
            if str(earlier.state) in KEPT_STATES:
                reason = f"unchanged: run {earlier.run_id} {KEPT_STATES[str(earlier.state)]}"
                return Submitted(run.task, run.run_name, "skipped", earlier.run_id, reason)
    created = client.run_pipeline(**common)
    return Submitted(run.task, run.run_name, "created", created.run_id)


def latest_runs(submission: Submission, experiment: str, tasks: set[str] | None) -> dict[str, RunInfo]:
    """The newest run of each task (all tasks seen when `tasks` is None) in the experiment.

    Raises:
        P2MError: An unreachable host or a refused request; an experiment that does not exist
            yields no runs.
    """
    check_reachable(submission.host, submission.timeout)
    with kfp_requests(submission.host):
        client = _client(submission)
        found = client.list_experiments(filter=_name_filter(experiment), namespace=submission.namespace)
        if not found.experiments:
            return {}
        latest: dict[str, RunInfo] = {}
        page_token = ""
        for _ in range(STATUS_PAGES):
            page = client.list_runs(
                experiment_id=found.experiments[0].experiment_id,
                page_size=100,
                sort_by="created_at desc",
                page_token=page_token,
            )
            for run in page.runs or []:
                match = _RUN_NAME.match(run.display_name or "")
                if match and match["task"] not in latest and (tasks is None or match["task"] in tasks):
                    latest[match["task"]] = RunInfo(
                        run.run_id, run.display_name, str(run.state), str(run.created_at or "")
                    )
            page_token = page.next_page_token or ""
            if not page_token or (tasks is not None and tasks <= set(latest)):
                break
    return latest


def _client(submission: Submission) -> Any:
    import kfp

    return kfp.Client(host=submission.host, namespace=submission.namespace or "kubeflow")


def _name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"key": "display_name", "operation": "EQUALS", "stringValue": name}]})


@dataclass(frozen=True)
class LocalOutcome:
    """How one task's local run ended: its summary, or the error that stopped it."""

    task: str
    out_dir: Path
    summary: dict[str, Any] | None = None
    error: str = ""


def local_options(task: FleetTask, out_dir: Path) -> RunOptions:
    """The `p2m run` options of one task, its run folder `out_dir` (an inline prompt is written there).

    Raises:
        P2MError: A training or generation field the profile does not have.
    """
    profile = run_profile(task.profile, task.num_examples, task.generation, task.training)
    prompt_file = task.prompt_file
    if prompt_file is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        prompt_file = out_dir / "prompt.txt"
        prompt_file.write_text(task.prompt, encoding="utf-8")
    return RunOptions(
        prompt_file=prompt_file,
        out_dir=out_dir,
        profile=profile,
        teacher=task.teacher,
        teacher_base_url=task.teacher_base_url,
        teacher_model=task.teacher_model,
        student=task.student or None,
        dataset=LabelledData(task.dataset, task.input_col, task.output_col) if task.dataset else None,
        test_dataset=(
            LabelledData(task.test_dataset, task.test_input_col, task.test_output_col)
            if task.test_dataset
            else None
        ),
        seed=task.seed,
        gate=task.gate,
    )


def run_fleet_locally(
    fleet: Fleet, out_root: Path, parallel: int = 1, finished: Callable[[LocalOutcome], None] | None = None
) -> list[LocalOutcome]:
    """Run every task on KFP's local runner into `out_root/<task>/`; a failure does not stop the others.

    Args:
        fleet: The fleet file, read.
        out_root: The folder of the tasks' run folders.
        parallel: Tasks run at once; above 1 each runs in a worker process, its output in
            `<task>/fleet.log`.
        finished: Called with each task's outcome as it ends.

    Returns:
        The outcomes in the fleet's order.
    """
    if parallel < 1:
        raise P2MError(f"--parallel must be at least 1, not {parallel}")
    report = finished or (lambda outcome: None)
    outcomes: dict[str, LocalOutcome] = {}
    if parallel == 1:
        for task in fleet.tasks:
            outcomes[task.name] = _run_task(task, out_root / task.name, log_path=None)
            report(outcomes[task.name])
    else:
        with ProcessPoolExecutor(max_workers=parallel, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(_run_task, task, out_root / task.name, out_root / task.name / "fleet.log")
                for task in fleet.tasks
            ]
            for future in as_completed(futures):
                outcome = future.result()
                outcomes[outcome.task] = outcome
                report(outcome)
    return [outcomes[task.name] for task in fleet.tasks]


def _run_task(task: FleetTask, out_dir: Path, log_path: Path | None) -> LocalOutcome:
    """One task's local run; in a worker process (`log_path` set) its output goes to that file."""
    try:
        if log_path is not None:
            _output_to(log_path)
        return LocalOutcome(task.name, out_dir, summary=run_pipeline_locally(local_options(task, out_dir)))
    except Exception as error:  # a fleet goes on past any task's failure and reports it
        message = str(error) if isinstance(error, P2MError) else f"{type(error).__name__}: {error}"
        return LocalOutcome(task.name, out_dir, error=message)


def _output_to(log_path: Path) -> None:
    """Send this process's stdout and stderr (file descriptors too: the KFP tasks' output) to a file."""
    import os
    import sys

    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("a", encoding="utf-8")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
        os.dup2(log.fileno(), stream.fileno())
