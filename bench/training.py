"""Student fine-tuning speed and peak memory: full fine-tuning against LoRA.

Each mode trains the default student (SmolLM2-135M) for a few steps on date-normalisation rows
in its own process, so peak memory (max RSS) is measured per mode.
Run: .venv/bin/python bench/training.py [--steps 10] [--batch-size 8]
Prints one line per mode and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from p2m_lib.config import TrainConfig
from p2m_lib.process import TaskTemplate
from p2m_lib.train import default_student, train

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "date_normalization"


def train_once(lora: bool, steps: int, batch_size: int) -> dict:
    rows = [json.loads(line) for line in (EXAMPLE / "train.jsonl").read_text().splitlines()]
    config = replace(TrainConfig(), lora=lora, max_steps=steps, batch_size=batch_size, learning_rate=1e-4)
    template = TaskTemplate("Rewrite the date in ISO 8601 format (YYYY-MM-DD).", "decoder-only")
    student = default_student()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = train(rows, [], student, template, config, Path(folder) / "model", Path(folder) / "ckpt")
        seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 1),
        "samples_per_s": round(result.steps * batch_size / seconds, 2),
        "trainable_parameters": result.trainable_parameters,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mode", choices=["full", "lora"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        figures = train_once(args.mode == "lora", args.steps, args.batch_size)
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(figures))
        return
    default_student()  # convert once, outside the measured runs
    results = {}
    for mode in ("full", "lora"):
        command = [
            sys.executable,
            __file__,
            "--mode",
            mode,
            "--steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(output.strip().splitlines()[-1])
        print(f"{mode}: {results[mode]}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
