"""How far a run's student really is from its teacher: both scored on more real rows than the run did.

`p2m run` scores its student and the prompted teacher on the profile's number of real test rows
(40 in the quick profile), where one row is 2.5 points and a tie can be luck. This scores a run
folder's student (`model/`, answering as `p2m serve` answers) and the teacher prompted in the
user's own layout (the run's baseline, `teacher_predictions`) on the first N rows of a test file,
and gives the paired difference with its standard error (per row: +1 where only the student is
right, -1 where only the teacher is).

Run: .venv/bin/python bench/rescore.py --run RUN_DIR/TASK --test TEST_JSONL [--rows 200]
         [--model MODEL_DIR] (another student for the same task; default: RUN_DIR/TASK/model)
         [--teacher auto|NAME|...] (as `p2m run --teacher`; default: the default teacher)
Prints one line and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from p2m_lib.config import get_profile
from p2m_lib.evaluate.baseline import teacher_predictions
from p2m_lib.evaluate.metrics import exact_match, paired_difference
from p2m_lib.llm import make_teacher
from p2m_lib.process import read_split
from p2m_lib.train import StudentPredictor
from p2m_lib.types import TaskSpec


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="A p2m run folder (RUN_DIR/TASK).")
    parser.add_argument("--test", type=Path, required=True, help="JSONL rows with input and output.")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--teacher", default="auto")
    args = parser.parse_args()

    task = TaskSpec.from_dict(json.loads((args.run / "task.json").read_text(encoding="utf-8")))
    rows = read_split(args.test)[: args.rows]
    if not rows:
        raise SystemExit(f"{args.test} has no rows to score")
    inputs, references = [row["input"] for row in rows], [row["output"] for row in rows]
    started = time.perf_counter()
    student = StudentPredictor.load(args.model or args.run / "model").predict(inputs)
    student_s = time.perf_counter() - started
    teacher = make_teacher(args.teacher)
    if hasattr(teacher, "load"):  # a local teacher: time answering, not loading
        teacher.load()
    started = time.perf_counter()
    # The longest answer the run's baseline allowed (the quick and standard profiles agree).
    baseline = teacher_predictions(teacher, task, inputs, get_profile("quick").max_new_tokens)
    teacher_s = time.perf_counter() - started
    figures = {
        "task": args.run.name,
        "student": round(exact_match(student, references), 2),
        "teacher": round(exact_match(baseline, references), 2),
    } | paired_difference(student, baseline, references)
    figures |= {"student_s": round(student_s, 1), "teacher_s": round(teacher_s, 1)}
    print(
        f"{figures['task']}: {figures['rows']} rows, student {figures['student']:.1f}, teacher "
        f"{figures['teacher']:.1f}, difference {figures['difference']:+.1f} "
        f"(standard error {figures['standard_error']:.1f})"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
