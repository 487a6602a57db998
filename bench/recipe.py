"""What each choice of the training recipe does: the quick recipe against one change at a time.

For one task of the quality suite (examples/<task>/: train.jsonl, test.jsonl) this fine-tunes
the default student on the task's labelled training rows (a tenth of them held out for
validation, as `p2m run` splits them; no generated rows, so every variant sees the same data)
and scores exact match on the first 40 test rows, the quick profile's evaluation size, with the
same `StudentPredictor` that `p2m run` evaluates and `p2m serve` serves.

Variants (each the quick profile's `TrainConfig` with one change):
  quick             the recipe as shipped
  lr-5e-5           the earlier default learning rate
  embeddings        token embeddings trained too
  lora              LoRA adapters (rank 8) at learning rate 1e-3 instead of full fine-tuning
  no-early-stop     patience 0: all planned steps, the best validated checkpoint still kept
  more-steps        200 to 300 steps instead of 100 to 150
  long              600 to 1000 steps (what a GPU makes affordable)
  instruction       the task's instruction in every prompt of the student (the paper's template)
  standard          the standard profile's recipe as shipped

Run: .venv/bin/python bench/recipe.py [--task date_normalization] [--variants quick,lora]
         [--train-rows N]   (the first N labelled rows only: where the recipe matters most)
         [--student NAME]   (an embedded model's name or a model folder; default: the default student)
     .venv/bin/python bench/recipe.py --run RUN_DIR --test TEST_JSONL [...]
         (the train and validation splits a `p2m run` wrote into RUN_DIR/data, for example the
         teacher-written rows of a prompt-only run, scored on TEST_JSONL's first 40 rows)
Prints one line per variant and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from p2m_lib.config import get_profile
from p2m_lib.evaluate import exact_match
from p2m_lib.parse import parse_rules, read_prompt
from p2m_lib.process import TaskTemplate, read_split
from p2m_lib.train import StudentPredictor, resolve_student, train
from p2m_lib.train.labels import teacher_label_counts
from p2m_lib.types import TaskSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUICK = get_profile("quick")
VARIANTS = {
    "quick": {},
    "lr-5e-5": {"learning_rate": 5e-5},
    "embeddings": {"freeze_embeddings": False},
    "lora": {"lora": True, "learning_rate": 1e-3},
    "no-early-stop": {"patience": 0},
    "more-steps": {"min_steps": 200, "max_steps": 300},
    "long": {"min_steps": 600, "max_steps": 1000},
    "instruction": {"instruction_in_prompt": True},
    "standard": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="date_normalization")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--train-rows", type=int, default=None, help="Use only this many labelled rows.")
    parser.add_argument("--run", type=Path, help="A p2m run folder whose data/ splits to train on.")
    parser.add_argument("--test", type=Path, help="The test file for --run.")
    parser.add_argument("--student", default=None, help="Embedded model name or folder.")
    args = parser.parse_args()
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")

    if args.run:
        if not args.test:
            parser.error("--run needs --test")
        train_rows = read_split(args.run / "data" / "train.jsonl")[: args.train_rows]
        val_rows = read_split(args.run / "data" / "val.jsonl")
        test = read_split(args.test)[: QUICK.max_eval_examples]
        spec = TaskSpec.from_dict(json.loads((args.run / "task.json").read_text()))
        task = args.run.name
    else:
        folder = EXAMPLES / args.task
        rows = [row | {"source": "dataset"} for row in read_split(folder / "train.jsonl")][: args.train_rows]
        random.Random(0).shuffle(rows)
        held_out = max(1, len(rows) // 10)
        val_rows, train_rows = rows[:held_out], rows[held_out:]
        test = read_split(folder / "test.jsonl")[: QUICK.max_eval_examples]
        spec = parse_rules(read_prompt(folder / "prompt.txt"))
        task = args.task
    # Rows the teacher labelled for a classification task are answered among its labels, as
    # `p2m run` answers them (labelled rows never are).
    label_counts = teacher_label_counts(spec.examples, train_rows)
    student = resolve_student(args.student)
    results = []
    for name in names:
        result = run_variant(name, train_rows, val_rows, test, spec.instruction, label_counts, student)
        results.append(result)
        print(
            f"{name:14} exact match {result['exact_match']:5.1f}  steps {result['steps']:3} "
            f"(kept {result['best_step']})  {result['train_s']:6.1f} s"
        )
    figures = {
        "task": task,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "student": args.student or "default",
        "train_rows": len(train_rows),
        "test_rows": len(test),
        "variants": results,
    }
    print(json.dumps(figures))


def run_variant(
    name: str,
    train_rows: list[dict],
    val_rows: list[dict],
    test: list[dict],
    instruction: str,
    label_counts: dict[str, int],
    student: Path | str,
) -> dict:
    base = get_profile("standard").train if name == "standard" else QUICK.train
    config = replace(base, **VARIANTS[name])
    template = TaskTemplate(
        instruction,
        "decoder-only",
        instruction_in_prompt=config.instruction_in_prompt,
        label_counts=label_counts,
    )
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch) / "model"
        start = time.perf_counter()
        checkpoints = Path(scratch) / "checkpoints"
        trained = train(train_rows, val_rows, student, template, config, model_dir, checkpoints)
        seconds = time.perf_counter() - start
        predictions = StudentPredictor.load(model_dir).predict([row["input"] for row in test])
    return {
        "variant": name,
        "exact_match": round(exact_match(predictions, [row["output"] for row in test]), 1),
        "steps": trained.steps,
        "best_step": trained.best_step,
        "stopped_by": trained.stopped_by,
        "train_s": round(seconds, 1),
    }


if __name__ == "__main__":
    main()
