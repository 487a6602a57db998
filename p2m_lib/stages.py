"""The stages of a run as functions from files to files.

Each stage reads what earlier stages wrote and writes its own folder or files, and nothing
else passes between them. `p2m run` calls them in order on one run folder; each KFP component
calls exactly one of them on its artifacts. A stage that finds its output already complete on
disk (generated examples, training checkpoints) continues from it instead of starting over.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.config import GenerationConfig, Profile, TrainConfig
from p2m_lib.errors import P2MError
from p2m_lib.types import Example, Metrics, TaskSpec

if TYPE_CHECKING:
    from p2m_lib.evaluate.gate import GateDecision, GateThresholds
    from p2m_lib.index.catalog import CatalogEntry
    from p2m_lib.train.trainjob import TrainJobSettings

log = logging.getLogger(__name__)

STATS_FILE = "stats.json"
TRAIN_RESULT_FILE = "p2m_train_result.json"
PREDICTIONS_FILE = "predictions.jsonl"
METRICS_FILE = "metrics.json"
FOOTPRINT_FILE = "footprint.json"
LABELLED_FILE = "examples.jsonl"
# Fewer examples than one training batch of the quick profile: a student learns nothing from them.
MIN_TRAINING_EXAMPLES = 8


@dataclass(frozen=True)
class LabelledData:
    """A user's labelled file and which columns hold the input and the output."""

    path: Path
    input_col: str = "input"
    output_col: str = "output"

    def load(self) -> list[Example]:
        """The file's rows as examples; a clear error when the file or a column is missing."""
        from p2m_lib.process import load_pairs

        return load_pairs(self.path, self.input_col, self.output_col)


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON with a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    """The JSON an earlier stage wrote; a clear error when that stage did not run."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise P2MError(f"{path} is missing: run the stage that writes it first") from None


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """One JSON object per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def estimate_generation(
    task: TaskSpec, generated_dir: Path, teacher: Any, config: GenerationConfig, seed: int
):
    """What generating into `generated_dir` is expected to cost (an `Estimate`); sends nothing."""
    from p2m_lib.generate import DatasetGenerator

    return DatasetGenerator(teacher, config, seed=seed, max_cost=config.max_cost).estimate(
        task, generated_dir
    )


def parse_stage(prompt: str, task_path: Path, teacher: Any) -> TaskSpec:
    """Parse the prompt into `task_path` (task.json)."""
    from p2m_lib.parse import parse_prompt

    task = parse_prompt(prompt, teacher)
    write_json(task_path, task.to_dict())
    return task


def generate_stage(task_path: Path, out_dir: Path, teacher: Any, config: GenerationConfig, seed: int) -> dict:
    """Generate examples into `out_dir` (raw.jsonl, examples.jsonl, stats.json); resumes."""
    from p2m_lib.generate import DatasetGenerator
    from p2m_lib.generate.judge import judge_examples
    from p2m_lib.generate.strategies import label_counts

    task = TaskSpec.from_dict(read_json(task_path))
    result = DatasetGenerator(teacher, config, seed=seed, max_cost=config.max_cost).generate(task, out_dir)
    stats = {
        "teacher": teacher.name,
        "generated": len(result.examples),
        "resumed": result.resumed_examples,
        "usage": result.usage.to_dict(),
        "rejected": result.rejected,
        "cost_usd": result.cost,
        "stopped_by": result.stopped_by,
        "failed_requests": result.failed_requests,
        "faults": result.faults,
        "sample_agreement": sample_agreement(out_dir),
    }
    if labels := label_counts(task.examples, result.examples):
        stats["labels"] = labels
    if config.judge:
        stats["judge"] = judge_examples(teacher, task, list(result.examples), out_dir).to_dict()
    write_json(out_dir / STATS_FILE, stats)
    return stats


def generation_metrics(stats: dict[str, Any]) -> dict[str, float]:
    """The generate step's figures for KFP's Metrics: counts, agreement and the judge's verdicts."""
    figures = {
        "generated": stats["generated"],
        "requests": stats["usage"]["requests"],
        "rejected": sum(stats["rejected"].values()),
    }
    if stats.get("sample_agreement") is not None:
        figures["sample_agreement"] = stats["sample_agreement"]
    if judge := stats.get("judge"):
        figures |= {"judge_kept": judge["kept"], "judge_dropped": sum(judge["dropped"].values())}
    return figures


def sample_agreement(generated_dir: Path) -> float | None:
    """The mean share (in percent) of the teacher's samples that agree with each kept answer.

    An estimate of how reliable the teacher's labels are where no real test set says so: a
    teacher that gives the same answer every time it is asked is more often right.
    """
    from p2m_lib.generate.journal import RAW_FILE, read_jsonl

    shares = [row["agreement"] for row in read_jsonl(generated_dir / RAW_FILE) if "agreement" in row]
    return round(100 * sum(shares) / len(shares), 1) if shares else None


def labelled_stage(
    task_path: Path,
    labelled_dir: Path,
    dataset: LabelledData | None = None,
    candidates: Sequence[CatalogEntry] = (),
    teacher: Any = None,
    pick: str = "",
    columns: str = "",
) -> dict:
    """The human-labelled examples of a run: the user's file and what dataset retrieval found.

    Writes `labelled_dir/examples.jsonl` (input, output, origin: "dataset" for the user's file,
    "retrieved" for a retrieved dataset) and `stats.json` (counts, and which retrieved dataset
    was used with which columns); returns the stats.

    Args:
        task_path: The parsed task (task.json).
        labelled_dir: Folder to write into.
        dataset: The user's labelled file, if any.
        candidates: Retrieved datasets, best first; empty when no retrieval ran.
        teacher: Asked to choose a retrieved dataset's columns when it is capable.
        pick: "NAME[:CONFIG]": a Hub dataset or a local path to use instead of the best usable
            candidate; works without retrieval too.
        columns: "IN[,IN...]->OUT": the columns of that dataset.
    """
    from p2m_lib.retrieve.labelled import use_retrieved_dataset

    task = TaskSpec.from_dict(read_json(task_path))
    rows = [example.to_dict() | {"origin": "dataset"} for example in (dataset.load() if dataset else [])]
    stats: dict[str, Any] = {"dataset": len(rows), "retrieved": 0, "retrieved_dataset": None}
    if candidates or pick:
        used = use_retrieved_dataset(candidates, task, teacher, pick, columns)
        if used is not None:
            rows += [example.to_dict() | {"origin": "retrieved"} for example in used.examples]
            stats |= {"retrieved": len(used.examples), "retrieved_dataset": used.describe()}
    write_jsonl(labelled_dir / LABELLED_FILE, rows)
    write_json(labelled_dir / STATS_FILE, stats)
    return stats


def process_stage(
    task_path: Path,
    generated_dir: Path,
    data_dir: Path,
    student: str | None,
    profile: Profile,
    labelled_dir: Path | None,
    seed: int,
) -> dict:
    """Merge generated and labelled data (`labelled_stage`'s folder) into textualized splits in `data_dir`."""
    from transformers import AutoConfig

    from p2m_lib.generate import EXAMPLES_FILE
    from p2m_lib.generate.judge import judged_wrong
    from p2m_lib.process import TaskTemplate, make_splits, read_split, write_splits
    from p2m_lib.train import model_kind, resolve_student

    task = TaskSpec.from_dict(read_json(task_path))
    examples_file = generated_dir / EXAMPLES_FILE
    dropped = judged_wrong(generated_dir)
    generated = (
        [
            Example(r["input"], r["output"])
            for r in read_split(examples_file)
            if (r["input"], r["output"]) not in dropped
        ]
        if examples_file.exists()
        else []
    )
    labelled_stats = read_json(labelled_dir / STATS_FILE) if labelled_dir else {"dataset": 0, "retrieved": 0}
    labelled = (
        [Example(r["input"], r["output"]) for r in read_split(labelled_dir / LABELLED_FILE)]
        if labelled_dir
        else []
    )
    if not generated and not labelled:
        stats = read_json(generated_dir / STATS_FILE)
        if stats["stopped_by"] == "max_cost":
            raise P2MError(
                f"the --max-cost budget ran out before any example was accepted (spent "
                f"${stats['cost_usd']:.4f} in {stats['usage']['requests']} requests); raise it and rerun"
            )
        raise P2MError(
            f"the teacher produced no usable example in {stats['usage']['requests']} requests "
            f"(rejected: {_describe(stats['rejected'])}); its replies are in {generated_dir}. "
            "Use a capable teacher (set P2M_LLM_BASE_URL) or pass labelled data with --dataset"
        )
    if len(generated) + len(labelled) < MIN_TRAINING_EXAMPLES:
        raise P2MError(_too_few(generated_dir, len(generated), len(labelled), len(dropped)))
    config = AutoConfig.from_pretrained(resolve_student(student), trust_remote_code=False)
    template = TaskTemplate(
        task.instruction, model_kind(config), instruction_in_prompt=profile.train.instruction_in_prompt
    )
    splits = make_splits(generated, labelled, profile.val_fraction, profile.test_fraction, seed)
    write_splits(splits, data_dir, template)
    stats = {
        "generated": len(generated),
        **labelled_stats,
        "splits": {name: len(rows) for name, rows in splits.items()},
    }
    write_json(data_dir / STATS_FILE, stats)
    return stats


def _too_few(generated_dir: Path, generated: int, labelled: int, judged_wrong: int) -> str:
    """Why a run has too few examples to train on, and what to change."""
    stats = read_json(generated_dir / STATS_FILE)
    judge = f", {judged_wrong} more judged wrong by the teacher" if judged_wrong else ""
    return (
        f"only {generated + labelled} examples to train on ({generated} generated, {labelled} labelled; "
        f"the filters rejected {_describe(stats['rejected'])}{judge}); at least {MIN_TRAINING_EXAMPLES} "
        "are needed. Ask for more with --num-examples, use a stronger --teacher"
        + (", turn the judge off" if judged_wrong else "")
        + " or add labelled data with --dataset"
    )


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "none"


def train_stage(
    task_path: Path,
    data_dir: Path,
    student: str | None,
    config: TrainConfig,
    model_dir: Path,
    checkpoints_dir: Path,
    processes: int = 1,
) -> dict:
    """Fine-tune the student on `data_dir`'s splits into `model_dir`; resumes from checkpoints.

    With `processes` > 1 it trains with that many CPU processes on this machine (torchrun, gloo),
    each running this function with `processes` = 1 (`p2m_lib.train.distributed`); only rank 0
    writes the model folder and the training record.
    """
    from p2m_lib.process import DECODER_ONLY, TaskTemplate, read_split
    from p2m_lib.train import resolve_student, train
    from p2m_lib.train.distributed import TrainRequest, is_main_process, launch
    from p2m_lib.train.labels import teacher_label_counts

    if processes > 1:
        launch(TrainRequest(task_path, data_dir, student, config, model_dir, checkpoints_dir), processes)
        return read_json(model_dir / TRAIN_RESULT_FILE)

    task = TaskSpec.from_dict(read_json(task_path))
    student_path = resolve_student(student)
    train_rows = read_split(data_dir / "train.jsonl")
    # The kind is corrected from the student's config by `train`.
    template = TaskTemplate(
        task.instruction,
        DECODER_ONLY,
        instruction_in_prompt=config.instruction_in_prompt,
        label_counts=teacher_label_counts(task.examples, train_rows),
    )
    result = train(
        train_rows,
        read_split(data_dir / "val.jsonl"),
        student_path,
        template,
        config,
        model_dir,
        checkpoints_dir,
    )
    record = {
        "name": result.model_name,
        "parameters": result.parameters,
        "trainable_parameters": result.trainable_parameters,
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "loss_history": [list(point) for point in result.loss_history],
        "eval_history": [list(point) for point in result.eval_history],
        "best_step": result.best_step,
        "stopped_by": result.stopped_by,
        "train_rows": len(train_rows),
    }
    if is_main_process():
        write_json(model_dir / TRAIN_RESULT_FILE, record)
    return record


def trainjob_stage(
    task_path: Path,
    data_dir: Path,
    student: str | None,
    config: TrainConfig,
    model_dir: Path,
    settings: TrainJobSettings,
    timeout_s: float,
    kubeconfig: Path | None = None,
) -> dict:
    """Fine-tune the student on a cluster's GPUs with a Kubeflow Trainer TrainJob into `model_dir`.

    The inputs are copied onto the work volume, every node runs `train_stage`'s worker under
    torchrun, and the model folder rank 0 writes there is copied into `model_dir`. Checkpoints
    stay on the volume, so a rerun resumes.

    Raises:
        P2MError: Settings a TrainJob cannot run, an API refusal, a failed or timed-out TrainJob.
    """
    import shutil

    from p2m_lib.kube import api_client
    from p2m_lib.train.trainjob import run_trainjob, stage_request

    settings.check(config)
    api = api_client(kubeconfig)
    request = stage_request(task_path, data_dir, student, config, settings)
    run_trainjob(api, settings, request, timeout_s)
    shutil.copytree(request.model_dir, model_dir, dirs_exist_ok=True)
    return read_json(model_dir / TRAIN_RESULT_FILE)


def evaluate_stage(
    task_path: Path,
    model_dir: Path,
    data_dir: Path,
    out_dir: Path,
    teacher: Any,
    profile: Profile,
    real_test: LabelledData | None = None,
    bertscore_model: str | None = None,
) -> dict:
    """Student and teacher on the test split (and the user's real test set) into `out_dir`.

    Writes predictions.jsonl and metrics.json; returns the metrics: `metrics` and
    `baseline_metrics` on the test split, `real_metrics` and `real_baseline_metrics` on `real_test`,
    and for each the student's exact match minus the teacher's with its standard error
    (`difference`, `real_difference`: `paired_difference`). `profile.max_eval_examples` rows of
    each test set are scored.
    """
    from p2m_lib.evaluate.metrics import paired_difference
    from p2m_lib.process import read_split

    task = TaskSpec.from_dict(read_json(task_path))
    limit = profile.max_eval_examples
    # Which test set, and the prefix of its keys in metrics.json and summary.json.
    test_sets = {
        "test": ("", [Example(r["input"], r["output"]) for r in read_split(data_dir / "test.jsonl")])
    }
    if real_test:
        test_sets["real_test"] = ("real_", real_test.load())
    evaluations: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    seconds = {"student": 0.0, "teacher": 0.0}
    for split, (prefix, examples) in test_sets.items():
        student, baseline, rows = _compare(
            task, model_dir, teacher, examples[:limit], profile, bertscore_model, seconds
        )
        evaluations[f"{prefix}metrics"] = student.to_dict()
        evaluations[f"{prefix}baseline_metrics"] = baseline.to_dict()
        evaluations[f"{prefix}difference"] = paired_difference(
            [row["prediction"] for row in rows],
            [row["teacher"] for row in rows],
            [row["reference"] for row in rows],
        )
        predictions += [row | {"split": split} for row in rows]
    write_jsonl(out_dir / PREDICTIONS_FILE, predictions)
    write_json(out_dir / METRICS_FILE, evaluations)
    write_json(out_dir / FOOTPRINT_FILE, _footprint(model_dir, teacher, seconds, len(predictions)))
    return evaluations


def gate_stage(evaluation_dir: Path, thresholds: GateThresholds) -> GateDecision:
    """The promotion gate on the evaluate step's scores: writes gate.json into `evaluation_dir`."""
    from p2m_lib.evaluate.gate import GATE_FILE, decide

    footprint_path = evaluation_dir / FOOTPRINT_FILE
    footprint = read_json(footprint_path) if footprint_path.exists() else {}
    decision = decide(read_json(evaluation_dir / METRICS_FILE), footprint, thresholds)
    write_json(evaluation_dir / GATE_FILE, decision.to_dict())
    return decision


def _footprint(model_dir: Path, teacher: Any, seconds: dict[str, float], answers: int) -> dict[str, Any]:
    """Student and teacher side by side: size on disk, parameters where known, time per answer.

    Milliseconds per answer are measured over the whole evaluation, each model answering in its
    own batches; a remote teacher's size is unknown.
    """
    from p2m_lib.embedded import folder_bytes

    teacher_size = teacher.footprint() if hasattr(teacher, "footprint") else {}
    per_answer = {who: round(1000 * spent / max(answers, 1), 1) for who, spent in seconds.items()}
    return {
        "student": {"disk_bytes": folder_bytes(model_dir), "ms_per_answer": per_answer["student"]},
        "teacher": {"name": teacher.name, **teacher_size, "ms_per_answer": per_answer["teacher"]},
    }


def _compare(
    task: TaskSpec,
    model_dir: Path,
    teacher: Any,
    examples: list[Example],
    profile: Profile,
    bertscore_model: str | None,
    seconds: dict[str, float],
) -> tuple[Metrics, Metrics, list[dict[str, Any]]]:
    """Both models' answers to `examples` and their scores; adds the time each took to `seconds`."""
    import time

    from p2m_lib.evaluate import score
    from p2m_lib.evaluate.baseline import teacher_predictions
    from p2m_lib.train import StudentPredictor

    inputs = [e.input for e in examples]
    references = [e.output for e in examples]
    predictor = StudentPredictor.load(model_dir)
    started = time.perf_counter()
    student = predictor.predict(inputs)
    seconds["student"] += time.perf_counter() - started
    # A local teacher's first answer would include loading it: load it first, time only answering.
    if hasattr(teacher, "load"):
        teacher.load()
    started = time.perf_counter()
    baseline = teacher_predictions(teacher, task, inputs, profile.max_new_tokens)
    seconds["teacher"] += time.perf_counter() - started
    rows = [
        {"input": i, "reference": r, "prediction": s, "teacher": t}
        for i, r, s, t in zip(inputs, references, student, baseline, strict=True)
    ]
    return score(student, references, bertscore_model), score(baseline, references, bertscore_model), rows


def report_stage(
    task_path: Path,
    generated_dir: Path,
    data_dir: Path,
    model_dir: Path,
    evaluation_dir: Path,
    out_dir: Path,
    run_info: dict[str, Any],
) -> dict:
    """Gather every stage's record into summary.json and report.html in `out_dir`.

    `run_info` carries what only the runner knows: `runner`, `profile`, `timings` and where
    things are (`model_path`, relative to `out_dir` where it lies inside it).
    """
    from p2m_lib.evaluate import write_report
    from p2m_lib.evaluate.gate import GATE_FILE
    from p2m_lib.process import read_split

    task = read_json(task_path)
    generation = read_json(generated_dir / STATS_FILE)
    data = read_json(data_dir / STATS_FILE)
    training = read_json(model_dir / TRAIN_RESULT_FILE)
    evaluations = read_json(evaluation_dir / METRICS_FILE)
    footprint_path = evaluation_dir / FOOTPRINT_FILE
    footprint = read_json(footprint_path) if footprint_path.exists() else {}
    gate_path = evaluation_dir / GATE_FILE
    summary = {
        "runner": run_info["runner"],
        **{k: v for k, v in run_info.items() if k not in {"runner", "timings", "model_path"}},
        "parsed": task,
        "task": {"instruction": task["instruction"]},
        "teacher": {"name": generation["teacher"], "usage": generation["usage"]},
        "data": data
        | {
            "rejected": generation["rejected"],
            "sample_agreement": generation.get("sample_agreement"),
            "judge": generation.get("judge"),
        }
        | ({"labels": generation["labels"]} if generation.get("labels") else {}),
        "model": {
            "name": training["name"],
            "path": run_info["model_path"],
            "parameters": training["parameters"],
            "trainable_parameters": training["trainable_parameters"],
            "steps": training["steps"],
            **{key: training[key] for key in ("train_rows", "best_step", "stopped_by") if key in training},
        },
        **evaluations,
        "footprint": footprint
        and {
            "student": {"parameters": training["parameters"], **footprint["student"]},
            "teacher": footprint["teacher"],
        },
        **({"gate": read_json(gate_path)} if gate_path.exists() else {}),
        "timings": run_info["timings"],
    }
    predictions = read_split(evaluation_dir / PREDICTIONS_FILE)
    loss_history = [tuple(point) for point in training["loss_history"]]
    eval_history = [tuple(point) for point in training.get("eval_history", [])]
    write_report(out_dir / "report.html", summary, loss_history, predictions, eval_history)
    write_json(out_dir / "summary.json", summary)
    return summary
