"""`p2m run`: every stage in order, each reading and writing files under one run folder.

Layout of a run folder (each stage's output is the next one's input, so a rerun of the same
command resumes: generation continues from its JSONL files, training from its checkpoints):

    task.json            the parsed prompt
    generated/           raw.jsonl (every teacher reply), examples.jsonl (accepted examples)
    data/                train.jsonl, val.jsonl, test.jsonl (textualized splits)
    checkpoints/         training checkpoints
    model/               the trained model: HF folder, tokenizer, p2m_template.json, README.md
    predictions.jsonl    student and teacher answers on the test split (and the real test set)
    metrics.json, report.html, summary.json
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2m_lib.config import Profile
from p2m_lib.errors import P2MError
from p2m_lib.types import Example, Metrics, TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledData:
    """A user's labelled file and which columns hold the input and the output."""

    path: Path
    input_col: str = "input"
    output_col: str = "output"


@dataclass(frozen=True)
class RunOptions:
    """Everything `p2m run` takes.

    Attributes:
        prompt_file: The user's prompt: an instruction and optional demonstrations.
        out_dir: The run folder (created; reused to resume).
        profile: Generation and training budget.
        teacher: `auto`, `local`, `openai` or a local model folder (see `p2m_lib.llm.make_teacher`).
        student: A model folder or hub name; None for the embedded default.
        dataset: Labelled data to train on beside the generated data.
        test_dataset: Real labelled data to evaluate on.
        bertscore_model: Encoder for BERTScore; None for the embedded MiniLM.
        seed: Seed for sampling, splitting and training.
    """

    prompt_file: Path
    out_dir: Path
    profile: Profile
    teacher: str = "auto"
    student: str | None = None
    dataset: LabelledData | None = None
    test_dataset: LabelledData | None = None
    bertscore_model: str | None = None
    seed: int = 42


@contextmanager
def _timed(stage: str, timings: dict[str, float]) -> Iterator[None]:
    log.info("stage %s", stage)
    start = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - start, 2)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def prepare_out_dir(out_dir: Path) -> None:
    """Create the run folder and prove it is writable before any expensive work starts."""
    probe = out_dir / ".p2m-write-test"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise P2MError(f"cannot write to --out {out_dir}: {error.strerror or error}") from None


def run(options: RunOptions) -> dict[str, Any]:
    """Run every stage; returns the summary also written to `summary.json`."""
    from p2m_lib.llm import make_teacher
    from p2m_lib.parse import parse_prompt, read_prompt

    out = options.out_dir
    prompt = read_prompt(options.prompt_file)
    # User files are checked before any model loads or any request is paid for.
    retrieved = _load_dataset(options.dataset) if options.dataset else []
    real_test = _load_dataset(options.test_dataset) if options.test_dataset else []
    prepare_out_dir(out)
    timings: dict[str, float] = {}
    teacher = make_teacher(options.teacher)

    with _timed("parse", timings):
        task = parse_prompt(prompt, teacher)
        _write_json(out / "task.json", task.to_dict())

    with _timed("generate", timings):
        generated, generation = _generate(task, teacher, options)
    if not generated and not retrieved:
        raise P2MError(
            f"the teacher produced no usable example in {generation.usage.requests} requests "
            f"(rejected: {_describe(generation.rejected)}); its replies are in {out / 'generated'}. "
            "Use a capable teacher (set P2M_LLM_BASE_URL) or pass labelled data with --dataset"
        )

    with _timed("process", timings):
        template, student_path = _template_for(task, options.student)
        splits = _splits(generated, retrieved, template, options)

    with _timed("train", timings):
        result = _train(splits, student_path, template, options)

    with _timed("evaluate", timings):
        evaluations, predictions = _evaluate(task, teacher, splits["test"], real_test, options)

    summary = {
        "runner": "local",
        "out_dir": str(out.resolve()),
        "profile": options.profile.name,
        "parsed": task.to_dict(),
        "task": {"instruction": task.instruction},
        "teacher": {"name": teacher.name, "usage": generation.usage.to_dict()},
        "data": {
            "generated": len(generated),
            "dataset": len(retrieved),
            "splits": {name: len(rows) for name, rows in splits.items()},
            "rejected": generation.rejected,
        },
        "model": {
            "name": result.model_name,
            "path": "model",
            "parameters": result.parameters,
            "trainable_parameters": result.trainable_parameters,
            "steps": result.steps,
        },
        **evaluations,
        "timings": timings,
    }
    with _timed("report", timings):
        from p2m_lib.evaluate import write_report

        _write_jsonl(out / "predictions.jsonl", predictions)
        _write_json(out / "metrics.json", evaluations)
        write_report(out / "report.html", summary, result.loss_history, predictions)
    _write_json(out / "summary.json", summary)
    return summary


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "none"


def _generate(task: TaskSpec, teacher: Any, options: RunOptions) -> tuple[list[Example], Any]:
    from p2m_lib.generate import DatasetGenerator

    generator = DatasetGenerator(teacher, options.profile.generation, seed=options.seed)
    result = generator.generate(task, options.out_dir / "generated")
    return list(result.examples), result


def _load_dataset(data: LabelledData) -> list[Example]:
    from p2m_lib.process import load_pairs

    return load_pairs(data.path, data.input_col, data.output_col)


def _template_for(task: TaskSpec, student: str | None) -> tuple[Any, Any]:
    from transformers import AutoConfig

    from p2m_lib.process import TaskTemplate
    from p2m_lib.train import model_kind, resolve_student

    student_path = resolve_student(student)
    kind = model_kind(AutoConfig.from_pretrained(student_path, trust_remote_code=False))
    return TaskTemplate(instruction=task.instruction, kind=kind), student_path


def _splits(generated: list[Example], retrieved: list[Example], template: Any, options: RunOptions) -> Any:
    from p2m_lib.process import make_splits, write_splits

    profile = options.profile
    splits = make_splits(generated, retrieved, profile.val_fraction, profile.test_fraction, options.seed)
    write_splits(splits, options.out_dir / "data", template)
    return splits


def _train(splits: Any, student_path: Any, template: Any, options: RunOptions) -> Any:
    from p2m_lib.train import train

    return train(
        splits["train"],
        splits["val"],
        student_path,
        template,
        options.profile.train,
        options.out_dir / "model",
        options.out_dir / "checkpoints",
    )


def _evaluate(
    task: TaskSpec,
    teacher: Any,
    test_rows: list[dict[str, Any]],
    real_test: list[Example],
    options: RunOptions,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Student and teacher on the test split, and on the user's real test set when given."""
    limit = options.profile.max_eval_examples
    # Which test set, and the prefix of its keys in summary.json.
    test_sets = {"test": ("", [Example(r["input"], r["output"]) for r in test_rows][:limit])}
    if real_test:
        test_sets["real_test"] = ("real_", real_test[:limit])
    evaluations: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    for split, (prefix, examples) in test_sets.items():
        student_metrics, teacher_metrics, rows = _compare(task, teacher, examples, options)
        evaluations[f"{prefix}metrics"] = student_metrics.to_dict()
        evaluations[f"{prefix}baseline_metrics"] = teacher_metrics.to_dict()
        predictions += [row | {"split": split} for row in rows]
    return evaluations, predictions


def _compare(
    task: TaskSpec, teacher: Any, examples: list[Example], options: RunOptions
) -> tuple[Metrics, Metrics, list[dict[str, Any]]]:
    from p2m_lib.evaluate import score
    from p2m_lib.evaluate.baseline import teacher_predictions
    from p2m_lib.train import StudentPredictor

    inputs = [e.input for e in examples]
    references = [e.output for e in examples]
    student = StudentPredictor.load(options.out_dir / "model").predict(inputs)
    baseline = teacher_predictions(teacher, task.prompt, inputs, options.profile.max_new_tokens)
    rows = [
        {"input": i, "reference": r, "prediction": s, "teacher": t}
        for i, r, s, t in zip(inputs, references, student, baseline, strict=True)
    ]
    model = options.bertscore_model
    return score(student, references, model), score(baseline, references, model), rows
