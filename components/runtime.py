"""What component bodies share once they run, in a task's container or a local KFP subprocess.

Only a component function's own source travels with a lightweight component, so its body
imports these helpers (installed with p2m in the image) and p2m_lib, and nothing else.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from p2m_lib.config import Profile, get_profile
from p2m_lib.errors import P2MError

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher
    from p2m_lib.stages import LabelledData

T = TypeVar("T")


def component_teacher(spec: str, base_url: str, model: str) -> Teacher:
    """The teacher of a component: the endpoint the pipeline names, else `spec` as `p2m run` reads it.

    The key is never a parameter: it comes from OPENAI_API_KEY, set from a Kubernetes secret on a
    cluster and inherited from the caller's environment in a local run.

    Args:
        spec: auto, local, openai, an embedded model or a folder (see `p2m_lib.llm.make_teacher`).
        base_url: An OpenAI-compatible URL; when set it wins over `spec`.
        model: The teacher model's name on that server.

    Raises:
        P2MError: `base_url` is set without `model`, or `spec` names no usable teacher.
    """
    from p2m_lib.llm import endpoint_teacher, make_teacher

    if not base_url:
        return make_teacher(spec)
    if not model:
        raise P2MError("teacher_base_url is set but teacher_model is empty: name the teacher model")
    return endpoint_teacher(base_url, model)


def run_profile(
    name: str,
    num_examples: int = 0,
    generation: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    eval_rows: int = 0,
) -> Profile:
    """The named profile with the pipeline's overrides.

    Args:
        name: quick or standard.
        num_examples: Examples to generate; 0 keeps the profile's.
        generation: `GenerationConfig` fields to replace, e.g. {"max_requests": 500, "max_cost": 2.5}.
        training: `TrainConfig` fields to replace, e.g. {"epochs": 3, "lora": true}.
        eval_rows: Rows of each test set to score (`Profile.max_eval_examples`); 0 keeps the profile's.

    Raises:
        P2MError: An unknown profile, an unknown field, a value of the wrong type or a negative
            `eval_rows`.
    """
    profile = get_profile(name)
    if eval_rows < 0:
        raise P2MError(f"eval_rows must be a number of rows, or 0 for the profile's, not {eval_rows}")
    generation_changes = {**(generation or {}), **({"num_examples": num_examples} if num_examples else {})}
    return dataclasses.replace(
        profile,
        generation=_changed(profile.generation, generation_changes, "generation"),
        train=_changed(profile.train, training or {}, "training"),
        max_eval_examples=eval_rows or profile.max_eval_examples,
    )


def _changed(config: T, changes: Mapping[str, Any], parameter: str) -> T:
    """`config` with `changes`, each value read as its field's type.

    KFP passes dict parameters as JSON objects, where every number is a float.
    """
    types = {field.name: str(field.type) for field in dataclasses.fields(config)}  # type: ignore[arg-type]
    typed = {}
    for name, value in changes.items():
        if name not in types:
            raise P2MError(f"unknown {parameter} field {name!r}; valid: {', '.join(types)}")
        typed[name] = _typed(types[name], f"{parameter} field {name!r}", value)
    return dataclasses.replace(config, **typed)  # type: ignore[type-var]


def _typed(type_name: str, what: str, value: Any) -> Any:
    """`value` as a field annotated `type_name` ("int", "float", "bool", "float | None") takes it."""
    if value is None and "None" in type_name:
        return None
    kind = type_name.split("|")[0].strip()
    if kind == "bool":
        if not isinstance(value, bool):
            raise P2MError(f"{what} must be true or false, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise P2MError(f"{what} must be a number, not {value!r}")
    if kind == "int" and not float(value).is_integer():
        raise P2MError(f"{what} must be a whole number, not {value!r}")
    return int(value) if kind == "int" else float(value)


def log_training(record: Mapping[str, Any], model: Any, metrics: Any) -> None:
    """What a train step shows in the KFP UI: the model's name and size as its metadata; steps,
    parameter counts, the last training loss, the step kept and its validation exact match as metrics.

    Args:
        record: What `train_stage` returns (and writes beside the model).
        model: The step's output Model artifact.
        metrics: The step's output Metrics artifact.
    """
    model.metadata.update({"name": record["name"], "parameters": record["parameters"]})
    for name in ("steps", "parameters", "trainable_parameters"):
        metrics.log_metric(name, record[name])
    if record["loss_history"]:
        metrics.log_metric("final_training_loss", record["loss_history"][-1][1])
    if record.get("best_step") is not None:
        metrics.log_metric("best_step", record["best_step"])
    kept = [point for point in record.get("eval_history", []) if point[0] == record.get("best_step")]
    if kept:
        metrics.log_metric("best_validation_exact_match", kept[0][1])


def log_to_task() -> None:
    """Show p2m_lib's log lines (INFO and up) in the task's log."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def run_timed(stage: Callable[..., T], *args: Any) -> tuple[T, float]:
    """Run one p2m_lib stage with its log lines in the task's log; returns its result and seconds."""
    log_to_task()
    start = time.perf_counter()
    result = stage(*args)
    return result, round(time.perf_counter() - start, 2)


@contextmanager
def work_folder(work_dir: str, name: str) -> Iterator[Path]:
    """Where a resumable stage keeps its state.

    `work_dir/name` when `work_dir` is set (the run folder locally, a mounted volume on a cluster),
    so that a rerun or a retried task continues from it; else a temporary folder, removed after.
    """
    if work_dir:
        yield Path(work_dir) / name
        return
    with tempfile.TemporaryDirectory(prefix=f"p2m-{name}-") as scratch:
        yield Path(scratch) / name


def publish(folder: Path, artifact_path: str) -> None:
    """Copy a finished stage's folder to its output artifact."""
    shutil.copytree(folder, artifact_path, dirs_exist_ok=True)


def labelled_data(path: str, input_col: str, output_col: str) -> LabelledData | None:
    """The user's labelled file as a stage takes it; None when no path is given."""
    from p2m_lib.stages import LabelledData

    return LabelledData(Path(path), input_col, output_col) if path else None


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as a Markdown table the KFP UI renders, cells on one line each."""
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = (" ".join(str(row.get(column, "")).split()).replace("|", "\\|") for column in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def retrieval_prompt(task_path: str) -> str:
    """What retrieval searches with: the task's English instruction, then its demonstrations."""
    from p2m_lib.stages import read_json

    task = read_json(Path(task_path))
    demonstrations = "\n".join(f"{e['input']}\n{e['output']}" for e in task["examples"])
    return f"{task['retrieval_instruction'] or task['instruction']}\n\n{demonstrations}".strip()


# Characters of a description kept in the candidates parameter, which must stay small.
CANDIDATE_DESCRIPTION_CHARS = 300


def candidates_parameter(rows: Sequence[Mapping[str, Any]]) -> str:
    """Ranked datasets as a JSON list for a pipeline parameter, descriptions shortened."""
    import json

    shortened = [
        {**row, "description": str(row.get("description", ""))[:CANDIDATE_DESCRIPTION_CHARS]} for row in rows
    ]
    return json.dumps(shortened, ensure_ascii=False)


def write_listing(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], json_path: str, md_path: str
) -> None:
    """A ranked list as JSON (for later steps) and as a Markdown table (for the KFP UI)."""
    from p2m_lib.stages import write_json

    write_json(Path(json_path), list(rows))
    Path(md_path).write_text(markdown_table(rows, columns), encoding="utf-8")
