"""`p2m run`: every stage in order on one run folder, in this process.

Layout of a run folder (each stage's output is the next one's input, so a rerun of the same
command resumes: generation continues from its JSONL files, training from its checkpoints):

    task.json            the parsed prompt
    generated/           raw.jsonl (every teacher reply), examples.jsonl, stats.json
    data/                train.jsonl, val.jsonl, test.jsonl (textualized splits), stats.json
    checkpoints/         training checkpoints
    model/               the trained model: HF folder, tokenizer, p2m_template.json, README.md
    predictions.jsonl    student and teacher answers on the test split (and the real test set)
    metrics.json, report.html, summary.json
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2m_lib.config import Profile
from p2m_lib.errors import P2MError
from p2m_lib.stages import (
    LabelledData,
    estimate_generation,
    evaluate_stage,
    generate_stage,
    labelled_stage,
    parse_stage,
    process_stage,
    report_stage,
    train_stage,
)

log = logging.getLogger(__name__)


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
        dataset_index: A dataset index (`p2m index datasets`): the best usable dataset it finds
            for the prompt is trained on too.
        model_index: A model index (`p2m index models`): the student is its best fit, unless
            `student` names one.
        retrieved_dataset: NAME[:CONFIG] of the retrieved dataset to use; empty: choose.
        retrieved_columns: IN[,IN...]->OUT, that dataset's columns; empty: choose.
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
    dataset_index: Path | None = None
    model_index: Path | None = None
    retrieved_dataset: str = ""
    retrieved_columns: str = ""
    bertscore_model: str | None = None
    seed: int = 42


@contextmanager
def _timed(stage: str, timings: dict[str, float]) -> Iterator[None]:
    log.info("stage %s", stage)
    start = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - start, 2)


def prepare_out_dir(out_dir: Path) -> None:
    """Create the run folder and prove it is writable before any expensive work starts."""
    probe = out_dir / ".p2m-write-test"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise P2MError(f"cannot write to --out {out_dir}: {error.strerror or error}") from None


def estimate(options: RunOptions) -> Any:
    """The expected requests, tokens and cost of the run's generation (an `Estimate`).

    Nothing is generated; with a capable teacher, parsing the prompt costs one small request.
    """
    from p2m_lib.llm import make_teacher
    from p2m_lib.parse import parse_prompt, read_prompt

    teacher = make_teacher(options.teacher)
    task = parse_prompt(read_prompt(options.prompt_file), teacher)
    generation = options.profile.generation
    return estimate_generation(task, options.out_dir / "generated", teacher, generation, options.seed)


def run(options: RunOptions) -> dict[str, Any]:
    """Run every stage but retrieval in this process; returns the summary also written to `summary.json`.

    Retrieval needs the pipeline (`pipelines.local.run_pipeline_locally`, what `p2m run` uses);
    this runner is the baseline that measures the pipeline's overhead (bench/kfp_overhead.py).
    """
    from p2m_lib.llm import make_teacher
    from p2m_lib.parse import read_prompt

    if options.dataset_index or options.model_index:
        raise P2MError("the in-process runner does not retrieve: run the pipeline to use an index")
    out = options.out_dir
    prompt = read_prompt(options.prompt_file)
    # User files are checked before any model loads or any request is paid for.
    for labelled in (options.dataset, options.test_dataset):
        if labelled:
            labelled.load()
    prepare_out_dir(out)
    teacher = make_teacher(options.teacher)
    profile = options.profile
    task_path, generated, data, model = out / "task.json", out / "generated", out / "data", out / "model"
    labelled_dir = out / "labelled"
    timings: dict[str, float] = {}

    with _timed("parse", timings):
        parse_stage(prompt, task_path, teacher)
    with _timed("generate", timings):
        generate_stage(task_path, generated, teacher, profile.generation, options.seed)
    with _timed("labelled", timings):
        labelled_stage(task_path, labelled_dir, options.dataset)
    with _timed("process", timings):
        process_stage(task_path, generated, data, options.student, profile, labelled_dir, options.seed)
    with _timed("train", timings):
        train_stage(task_path, data, options.student, profile.train, model, out / "checkpoints")
    with _timed("evaluate", timings):
        evaluate_stage(
            task_path, model, data, out, teacher, profile, options.test_dataset, options.bertscore_model
        )
    run_info = {
        "runner": "local",
        "out_dir": str(out.resolve()),
        "profile": profile.name,
        "model_path": "model",
        "timings": timings,
    }
    return report_stage(task_path, generated, data, model, out, out, run_info)
