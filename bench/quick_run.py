"""Wall time per stage of `p2m run --profile quick` on an example task.

Run: .venv/bin/python bench/quick_run.py [--example examples/date_normalization] [--out DIR]
The run folder is made fresh (an existing one is removed) so nothing is resumed.
Prints the summary's timings and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--example", type=Path, default=Path("examples/date_normalization"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench-quick"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    command = [
        str(Path(sys.executable).parent / "p2m"),
        "run",
        "--profile",
        "quick",
        "--out",
        str(args.out),
        "--prompt-file",
        str(args.example / "prompt.txt"),
        "--dataset",
        str(args.example / "train.jsonl"),
        "--test-dataset",
        str(args.example / "test.jsonl"),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    summary = json.loads((args.out / "summary.json").read_text())
    figures = {
        "wall_s": round(wall, 1),
        "timings": summary["timings"],
        "generated": summary["data"]["generated"],
        "train_steps": summary["model"]["steps"],
        "real_metrics": summary.get("real_metrics"),
        "real_baseline_metrics": summary.get("real_baseline_metrics"),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
