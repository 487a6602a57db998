"""`p2m run` through KFP's local runner: the prompt2model pipeline on this machine, no cluster.

Every task runs as a subprocess of this Python (`SubprocessRunner(use_venv=False)`) with this
process's environment, so the teacher endpoint and its key come from P2M_LLM_BASE_URL,
P2M_LLM_MODEL and OPENAI_API_KEY; the key is never a parameter.
Artifacts stay where KFP writes them, under `<run folder>/kfp-local/`; the run folder then gets
the files `p2m run` has always written, copied from those artifacts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import io
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from components.runtime import run_profile
from p2m_lib.config import Profile
from p2m_lib.errors import P2MError
from p2m_lib.evaluate.gate import GateThresholds
from p2m_lib.progress import StepList
from p2m_lib.stages import LabelledData, read_json

RUNNER = "kfp-local"
PIPELINE_ROOT = "kfp-local"
LOG_FILE = "pipeline.log"
# In the pipeline root; held by the `p2m run` writing into the run folder.
LOCK_FILE = "run.lock"
# "<task>/<output>" in a pipeline run's folder -> its place in the run folder.
RUN_FOLDER_LAYOUT = {
    "parse/task": "task.json",
    "generate/generated": "generated",
    "gather-labelled/labelled": "labelled",
    "process/data": "data",
    "train/model": "model",
    "evaluate/evaluation/predictions.jsonl": "predictions.jsonl",
    "evaluate/evaluation/metrics.json": "metrics.json",
    "report/html": "report.html",
    "report/summary": "summary.json",
}
_TASK_EVENT = re.compile(r"Executing task '([\w-]+)'|Task '([\w-]+)' finished with status (\w+)")
_ANSI_COLOR = re.compile(r"\x1b\[[0-9;]*m")
_USER_ERROR = re.compile(r"P2MError: (.+)$")


@dataclass(frozen=True)
class RunOptions:
    """Everything `p2m run` takes.

    Attributes:
        prompt_file: The user's prompt: an instruction and optional demonstrations.
        out_dir: The run folder (created; reused to resume).
        profile: Generation and training budget.
        teacher: `auto`, `local`, `openai` or a local model folder (see `p2m_lib.llm.make_teacher`).
        teacher_base_url: An OpenAI-compatible endpoint that answers instead (its key from
            OPENAI_API_KEY); empty: `teacher`.
        teacher_model: The teacher model's name on that endpoint.
        student: A model folder or hub name; None for the embedded default.
        dataset: Labelled data to train on beside the generated data.
        test_dataset: Real labelled data to evaluate on.
        dataset_index: A dataset index (`p2m index datasets`): the best usable dataset it finds
            for the prompt is trained on too.
        model_index: A model index (`p2m index models`): the student is its best fit, unless
            `student` names one.
        retrieved_dataset: NAME[:CONFIG] of the retrieved dataset to use; empty: choose.
        retrieved_columns: IN[,IN...]->OUT, that dataset's columns; empty: choose.
        bertscore_model: Encoder for BERTScore; None for the embedded MiniLM.
        seed: Seed for sampling, splitting and training.
        gate: The promotion gate's thresholds; its decision goes to summary.json and report.html.
        processes: Processes that train together on CPU (torchrun, gloo); each takes an equal
            share of every batch, so the training is the profile's.
    """

    prompt_file: Path
    out_dir: Path
    profile: Profile
    teacher: str = "auto"
    teacher_base_url: str = ""
    teacher_model: str = ""
    student: str | None = None
    dataset: LabelledData | None = None
    test_dataset: LabelledData | None = None
    dataset_index: Path | None = None
    model_index: Path | None = None
    retrieved_dataset: str = ""
    retrieved_columns: str = ""
    bertscore_model: str | None = None
    seed: int = 42
    gate: GateThresholds = GateThresholds()
    processes: int = 1


def run_pipeline_locally(options: RunOptions) -> dict[str, Any]:
    """Run the prompt2model pipeline with KFP's local runner into `options.out_dir`.

    The run folder ends up with what `p2m run` has always written (task.json, generated/, data/,
    model/, predictions.jsonl, metrics.json, report.html, summary.json) plus `checkpoints/` and
    `kfp-local/`, the pipeline root that holds every artifact of every task and `pipeline.log`.
    Generation state and checkpoints live in the run folder, so rerunning resumes.

    Returns:
        The summary written to summary.json; `runner` is "kfp-local" and `pipeline_root` says
        where the artifacts are.

    Raises:
        P2MError: A bad prompt or labelled file, an unwritable run folder, a profile the
            pipeline's parameters cannot express, a batch the processes cannot share, another
            run writing into the run folder, or a failed task (with its error and log).
    """
    from kfp import local

    from p2m_lib.parse import read_prompt
    from p2m_lib.train.distributed import device_batch_size
    from pipelines.prompt2model import build_prompt2model

    prompt = read_prompt(options.prompt_file)
    device_batch_size(options.profile.train.batch_size, options.processes)
    # User files are checked before any task starts or any request is paid for.
    for labelled in (options.dataset, options.test_dataset):
        if labelled:
            labelled.load()
    _check_retrieval(options)
    prepare_out_dir(options.out_dir)
    out = options.out_dir.resolve()
    root = out / PIPELINE_ROOT
    root.mkdir(exist_ok=True)
    arguments = pipeline_arguments(options, prompt, root)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    with _sole_writer(root):
        earlier_runs = _pipeline_runs(root)
        try:
            with _task_output_to(root / LOG_FILE):
                build_prompt2model(retries=0, trainjobs=False)(**arguments)
        except RuntimeError as error:  # how KFP's local runner reports a failed task
            raise _task_failure(error, root / LOG_FILE) from None
        run_dir = _this_run(root, earlier_runs)
        for source, target in RUN_FOLDER_LAYOUT.items():
            _place(run_dir / source, out / target)
    return read_json(out / "summary.json")


@contextlib.contextmanager
def _sole_writer(pipeline_root: Path) -> Iterator[None]:
    """Hold the run folder for one `p2m run`: a second run into it would resume from, and
    overwrite, the first one's generated examples and checkpoints while they are being written."""
    with open(pipeline_root / LOCK_FILE, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise P2MError(
                f"another p2m run (process {holder}) is writing to --out {pipeline_root.parent}; "
                "wait for it to finish or give this run another --out"
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


def _pipeline_runs(pipeline_root: Path) -> set[Path]:
    return {path for path in pipeline_root.iterdir() if path.is_dir()}


def _this_run(pipeline_root: Path, earlier_runs: set[Path]) -> Path:
    """The folder KFP's local runner made for this run: the one that was not there before.

    Raises:
        P2MError: If more than one appeared. The lock keeps out a second `p2m run`, but a task
            of an interrupted run (its parent killed, the task left running) still writes there.
    """
    new_runs = sorted(_pipeline_runs(pipeline_root) - earlier_runs)
    if len(new_runs) != 1:
        raise P2MError(
            f"expected one new pipeline run in {pipeline_root}, found {len(new_runs)} "
            f"({', '.join(path.name for path in new_runs) or 'none'}): a task of an interrupted "
            "p2m run is probably still writing into this --out; stop it and run again"
        )
    return new_runs[0]


def prepare_out_dir(out_dir: Path) -> None:
    """Create the run folder and prove it is writable before any expensive work starts."""
    probe = out_dir / ".p2m-write-test"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise P2MError(f"cannot write to --out {out_dir}: {error.strerror or error}") from None


def _check_retrieval(options: RunOptions) -> None:
    """Refuse, before any task starts, a missing index (or one of another kind or format version)
    and retrieval options that cannot be used."""
    from p2m_lib.index import dataset_index, model_index
    from p2m_lib.index.manifest import load_manifest
    from p2m_lib.retrieve.labelled import ColumnChoice

    if options.retrieved_columns:
        if not (options.dataset_index or options.retrieved_dataset):
            raise P2MError(
                "--retrieved-columns names the columns of a retrieved dataset: add --dataset-index"
            )
        ColumnChoice.parse(options.retrieved_columns)
    indices = ((options.dataset_index, dataset_index.KIND), (options.model_index, model_index.KIND))
    for folder, kind in indices:
        if folder is not None:
            load_manifest(folder, kind)


def pipeline_arguments(options: RunOptions, prompt: str, pipeline_root: Path) -> dict[str, Any]:
    """The prompt2model parameters that reproduce `options`.

    Raises:
        P2MError: The profile differs from its named profile in more than its generation and
            training settings and the rows it scores, which is all the pipeline takes.
    """
    profile = options.profile
    named = run_profile(profile.name)
    generation = _changes(named.generation, profile.generation, skip="num_examples")
    training = _changes(named.train, profile.train)
    eval_rows = profile.max_eval_examples if profile.max_eval_examples != named.max_eval_examples else 0
    changed = run_profile(profile.name, profile.generation.num_examples, generation, training, eval_rows)
    if changed != profile:
        raise P2MError(
            f"profile {profile.name!r} was changed beyond its generation and training settings and "
            "the rows it scores; the pipeline cannot express that: change only those"
        )
    dataset, test_dataset = options.dataset, options.test_dataset
    out = options.out_dir.resolve()
    return {
        "prompt": prompt,
        "profile": profile.name,
        "num_examples": profile.generation.num_examples,
        "generation": generation,
        "training": training,
        "eval_rows": eval_rows,
        "seed": options.seed,
        "teacher": options.teacher,
        "teacher_base_url": options.teacher_base_url,
        "teacher_model": options.teacher_model,
        "student": options.student or "",
        "dataset_path": str(dataset.path.resolve()) if dataset else "",
        "input_col": dataset.input_col if dataset else "input",
        "output_col": dataset.output_col if dataset else "output",
        "test_dataset_path": str(test_dataset.path.resolve()) if test_dataset else "",
        "test_input_col": test_dataset.input_col if test_dataset else "input",
        "test_output_col": test_dataset.output_col if test_dataset else "output",
        "dataset_index_uri": str(options.dataset_index.resolve()) if options.dataset_index else "",
        "model_index_uri": str(options.model_index.resolve()) if options.model_index else "",
        "retrieved_dataset": options.retrieved_dataset,
        "retrieved_columns": options.retrieved_columns,
        "bertscore_model": options.bertscore_model or "",
        "work_dir": str(out),
        "gate": options.gate.to_parameter(),
        "cpu_processes": options.processes,
        "run_info": {
            "runner": RUNNER,
            "out_dir": str(out),
            "pipeline_root": str(pipeline_root),
            "model_path": "model",
        },
    }


def _changes(named: Any, changed: Any, skip: str = "") -> dict[str, Any]:
    """The fields of a config dataclass that differ from the named profile's."""
    return {
        field: value
        for field, value in dataclasses.asdict(changed).items()
        if field != skip and value != getattr(named, field)
    }


@contextlib.contextmanager
def _task_output_to(log_path: Path) -> Iterator[None]:
    """Send what KFP prints (its task logs, every task's output) and warns to `log_path`.

    The terminal shows a list of the steps instead: each task as it starts, the last progress
    line of the running one (generation, training, the teacher baseline), and how each ended.
    """
    with (
        log_path.open("a", encoding="utf-8") as log_file,
        warnings.catch_warnings(record=True) as caught,
        StepList() as steps,
        contextlib.redirect_stdout(_TaskEvents(log_file, steps)),
    ):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            log_file.writelines(f"warning: {warning.message}\n" for warning in caught)


class _TaskEvents(io.TextIOBase):
    """A text stream that writes to the log and shows task starts, ends and progress in `steps`."""

    def __init__(self, log_file: IO[str], steps: StepList) -> None:
        super().__init__()
        self._log_file = log_file
        self._steps = steps

    def write(self, text: str) -> int:
        text = _ANSI_COLOR.sub("", text)
        self._log_file.write(text)
        for started, finished, status in _TASK_EVENT.findall(text):
            if started:
                self._steps.started(started)
            else:
                self._steps.finished(finished, status)
        self._steps.report(text)
        return len(text)

    def flush(self) -> None:
        self._log_file.flush()


def _task_failure(error: RuntimeError, log_path: Path) -> P2MError:
    """The error a user sees for a failed task: the task's own P2MError when it raised one."""
    messages = [
        m.group(1)
        for line in log_path.read_text(encoding="utf-8").splitlines()
        if (m := _USER_ERROR.search(line))
    ]
    failed = re.search(r"Inner task failed: '?([\w-]+)", _ANSI_COLOR.sub("", str(error)))
    where = f"task {failed.group(1)}" if failed else "a task"
    if messages:
        return P2MError(f"{messages[-1]} ({where} failed; its log is in {log_path})")
    return P2MError(f"{where} of the local KFP run failed; its log is in {log_path}")


def _place(source: Path, target: Path) -> None:
    """Put one artifact where `p2m run` writes it, replacing what an earlier run left there."""
    if target.is_dir():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
