"""Quality: does the trained student beat the teacher prompted with the same prompt?

For each task of the suite (examples/<task>/: prompt.txt, train.jsonl, test.jsonl with disjoint
inputs, written by the task's make_data.py; or, with --data-dir, a folder <task>/ holding
prompt.txt and test.jsonl of public labelled data) this runs the real command

    p2m run --prompt-file examples/<task>/prompt.txt --dataset examples/<task>/train.jsonl \
            --test-dataset examples/<task>/test.jsonl --profile quick --out runs/quality/<task>

or, with --prompt-only (the paper's setting: the teacher writes all the training data), the same
without --dataset; the same-size model, the untrained student prompted with the same prompt, is
then scored on the test set too.

in a subprocess (KFP's local runner, as a user would), then reads the run's summary.json and
reports, per task: the student's and the teacher's main metric on the real test set
(`real_metrics`, `real_baseline_metrics`), the difference, the number of training examples,
the training steps (and the step kept), the wall time of each stage (`timings`) and of the
whole command. Targets (docs/BENCHMARKS.md, Quality): the student beats the teacher by at least
20 points on every task, and each run takes under 10 minutes; with --prompt-only, the student at
least matches the teacher and beats the same-size prompted model by 20 points, each run under 15.

Run: .venv/bin/python bench/quality.py [--tasks date_normalization,ticket_routing]
         [--num-examples N] [--max-requests N] [--eval-rows N] [--profile quick] [--out runs/quality]
Each task's run folder is made fresh (an existing one is removed) so nothing is resumed.
Prints a table, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from p2m_lib.config import get_profile

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# Task -> its main metric (a key of summary.json's metrics). Every task here has short answers
# that are right or wrong, so exact match (normalised, as in SQuAD) is the one to beat.
TASKS = {
    "date_normalization": "exact_match",
    "flight_destination": "exact_match",
    "ticket_routing": "exact_match",
}
# Public labelled sets in --data-dir (each folder's SOURCE.md says where they come from).
PUBLIC_TASKS = dict.fromkeys(("sentiment", "qa", "topic", "non_english"), "exact_match")
TARGET_POINTS = 20.0
TARGET_WALL_S = 600.0
# Prompt only: the student at least matches the prompted teacher and beats the same-size prompted
# model by this many points; a quick run takes under 15 minutes.
PROMPT_ONLY_TARGET_POINTS = 20.0
PROMPT_ONLY_WALL_S = 900.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", default=",".join(TASKS), help="Comma-separated task names.")
    parser.add_argument(
        "--num-examples", type=int, default=None, help="Examples to generate (default: the profile's)."
    )
    parser.add_argument("--max-requests", type=int, default=None, help="Most teacher requests per run.")
    parser.add_argument(
        "--eval-rows", type=int, default=None, help="Real test rows scored (default: the profile's)."
    )
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    parser.add_argument("--prompt-only", action="store_true", help="Train on generated data alone.")
    parser.add_argument("--data-dir", type=Path, help="Folder of public tasks: " + ", ".join(PUBLIC_TASKS))
    parser.add_argument("--teacher", default="auto", help="p2m run --teacher.")
    args = parser.parse_args()
    args.out = args.out.resolve()
    names = [name.strip() for name in args.tasks.split(",") if name.strip()]
    known = TASKS | (PUBLIC_TASKS if args.data_dir else {})
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(known)}")

    started = time.time()
    load_before = os.getloadavg()
    results = [run_task(name, args) for name in names]
    figures = {
        "profile": args.profile,
        "num_examples": args.num_examples,
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
        "wall_s": round(time.time() - started, 1),
        "tasks": results,
        "targets_met": all(result.get("target_met") for result in results),
    }
    if args.prompt_only:
        target = (
            f"student >= teacher, student - same size >= {PROMPT_ONLY_TARGET_POINTS:.0f} points, "
            f"wall < {PROMPT_ONLY_WALL_S:.0f} s"
        )
    else:
        target = f"student - teacher >= {TARGET_POINTS:.0f} points, wall < {TARGET_WALL_S:.0f} s"
    print_table(results, target)
    print(json.dumps(figures))
    if any("error" in result for result in results):
        sys.exit(1)


def run_task(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run `p2m run` on one task into a fresh folder and gather its figures."""
    folder = args.data_dir / name if name in PUBLIC_TASKS else EXAMPLES / name
    out = args.out / name
    shutil.rmtree(out, ignore_errors=True)
    train, test = folder / "train.jsonl", folder / "test.jsonl"
    command = [str(Path(sys.executable).parent / "p2m"), "run", "--prompt-file", str(folder / "prompt.txt")]
    command += [] if args.prompt_only else ["--dataset", str(train)]
    command += ["--test-dataset", str(test), "--profile", args.profile, "--out", str(out)]
    command += ["--teacher", args.teacher]
    if args.num_examples is not None:
        command += ["--num-examples", str(args.num_examples)]
    if args.max_requests is not None:
        command += ["--max-requests", str(args.max_requests)]
    if args.eval_rows is not None:
        command += ["--eval-rows", str(args.eval_rows)]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    result: dict[str, Any] = {
        "task": name,
        "wall_s": round(wall, 1),
        "load_1min_at_start": round(load, 2),
    }
    if finished.returncode != 0:
        tail = (finished.stdout + finished.stderr).strip().splitlines()[-10:]
        return result | {"error": f"p2m run exited with {finished.returncode}", "output_tail": tail}
    metric = (TASKS | PUBLIC_TASKS)[name]
    figures = figures_of(json.loads((out / "summary.json").read_text()), metric, wall)
    if args.prompt_only:
        rows = args.eval_rows or get_profile(args.profile).max_eval_examples
        same_size = same_size_prompted(folder, metric, args.profile, rows)
        figures |= same_size | {
            "target_met": figures["difference"] >= 0
            and figures["student"] - same_size["same_size"] >= PROMPT_ONLY_TARGET_POINTS
            and wall < PROMPT_ONLY_WALL_S
        }
    return result | figures


def same_size_prompted(folder: Path, metric: str, profile: str, rows: int) -> dict[str, float]:
    """The untrained embedded student, prompted with the task's prompt exactly as the teacher is,
    on the first `rows` rows of the test set."""
    from p2m_lib.embedded import DEFAULT_STUDENT, embedded_model
    from p2m_lib.evaluate import score
    from p2m_lib.evaluate.baseline import teacher_predictions
    from p2m_lib.llm import LocalTeacher
    from p2m_lib.parse import parse_prompt
    from p2m_lib.process.datasets import load_pairs

    task = parse_prompt((folder / "prompt.txt").read_text(encoding="utf-8"))
    # The same rows the run scored its student and teacher on.
    examples = load_pairs(folder / "test.jsonl", "input", "output")[:rows]
    prompted = LocalTeacher(embedded=embedded_model(DEFAULT_STUDENT))
    answers = teacher_predictions(
        prompted, task, [e.input for e in examples], get_profile(profile).max_new_tokens
    )
    scores = score(answers, [e.output for e in examples], None)
    return {"same_size": round(getattr(scores, metric), 2), "same_size_chrf": round(scores.chrf, 2)}


def figures_of(summary: dict[str, Any], metric: str, wall: float) -> dict[str, Any]:
    """The per-task figures from a run's summary.json."""
    student = summary["real_metrics"][metric]
    teacher = summary["real_baseline_metrics"][metric]
    data, model = summary["data"], summary["model"]
    return {
        "metric": metric,
        "student": round(student, 2),
        "teacher": round(teacher, 2),
        "difference": round(student - teacher, 2),
        # Of exact match's difference, over the same rows (p2m_lib.evaluate.metrics.paired_difference).
        "standard_error": summary["real_difference"]["standard_error"],
        "test_examples": summary["real_metrics"]["count"],
        "student_chrf": round(summary["real_metrics"]["chrf"], 2),
        "teacher_chrf": round(summary["real_baseline_metrics"]["chrf"], 2),
        "train_examples": data["splits"]["train"],
        "generated": data["generated"],
        "labelled": data.get("dataset", 0),
        "steps": model["steps"],
        "best_step": model.get("best_step"),
        "stopped_by": model.get("stopped_by"),
        "timings": summary["timings"],
        "target_met": student - teacher >= TARGET_POINTS and wall < TARGET_WALL_S,
    }


def print_table(results: list[dict[str, Any]], target: str) -> None:
    stages = list(dict.fromkeys(stage for result in results for stage in result.get("timings", {})))
    header = ["task", "student", "teacher", "same size", "diff (s.e.)", "train ex", "steps (kept)"]
    header += [*stages, "wall s", "load", "target"]
    rows = []
    for result in results:
        if "error" in result:
            rows.append([result["task"], result["error"]] + [""] * (len(header) - 2))
            continue
        timings = result["timings"]
        rows.append(
            [
                result["task"],
                f"{result['student']:.1f}",
                f"{result['teacher']:.1f}",
                f"{result['same_size']:.1f}" if "same_size" in result else "",
                f"{result['difference']:+.1f} ({result['standard_error']:.1f})",
                str(result["train_examples"]),
                f"{result['steps']} ({result['best_step']})",
                *[f"{timings.get(stage, 0):.0f}" for stage in stages],
                f"{result['wall_s']:.0f}",
                f"{result['load_1min_at_start']:.1f}",
                "met" if result["target_met"] else "MISSED",
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        "student, teacher: the task's main metric (exact match) on the real test set, 0-100; "
        "diff: student - teacher, with the standard error of exact match's difference; "
        f"stage times in seconds; target: {target}"
    )


if __name__ == "__main__":
    main()
