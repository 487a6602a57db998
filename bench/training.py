"""Student fine-tuning speed and peak memory: full fine-tuning against LoRA, or 1 against N processes.

Each run trains the default student (SmolLM2-135M) for a few steps on date-normalisation rows
through `train_stage`, in its own process, so peak memory (max RSS) is measured per run. With
`--nproc N` full fine-tuning runs with 1 and with N processes (torchrun on CPU, gloo: each
process takes batch / N rows of every step); the seconds then include starting the processes,
and the peak is that of the largest process.
Run: .venv/bin/python bench/training.py [--steps 10] [--batch-size 8] [--nproc 2]
Prints one line per run and a JSON object on the last line.
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
from p2m_lib.stages import train_stage
from p2m_lib.train import default_student
from p2m_lib.types import TaskSpec

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "date_normalization"


def train_once(lora: bool, steps: int, batch_size: int, processes: int) -> dict:
    config = replace(TrainConfig(), lora=lora, max_steps=steps, batch_size=batch_size, learning_rate=1e-4)
    task = TaskSpec("Rewrite the date in ISO 8601 format (YYYY-MM-DD).")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "data").mkdir()
        (folder / "task.json").write_text(json.dumps(task.to_dict()))
        (folder / "data" / "train.jsonl").write_text((EXAMPLE / "train.jsonl").read_text())
        (folder / "data" / "val.jsonl").write_text("")
        start = time.perf_counter()
        record = train_stage(
            folder / "task.json",
            folder / "data",
            str(default_student()),
            config,
            folder / "model",
            folder / "ckpt",
            processes,
        )
        seconds = time.perf_counter() - start
    # The largest process: this one, or (with torchrun) a worker it waited for.
    peak_kb = max(
        resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return {
        "processes": processes,
        "seconds": round(seconds, 1),
        "samples_per_s": round(record["steps"] * batch_size / seconds, 2),
        "trainable_parameters": record["trainable_parameters"],
        "peak_rss_mb": round(peak_kb / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--nproc", type=int, default=1, help="Compare full fine-tuning on 1 and N processes.")
    parser.add_argument("--mode", choices=["full", "lora"], help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(train_once(args.mode == "lora", args.steps, args.batch_size, args.processes)))
        return
    default_student()  # convert once, outside the measured runs
    runs = {"full": ("full", 1), "lora": ("lora", 1)}
    if args.nproc > 1:
        runs = {"1 process": ("full", 1), f"{args.nproc} processes": ("full", args.nproc)}
    results = {}
    for name, (mode, processes) in runs.items():
        command = [
            sys.executable,
            __file__,
            "--mode",
            mode,
            "--processes",
            str(processes),
            "--steps",
            str(args.steps),
            "--batch-size",
            str(args.batch_size),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(output.strip().splitlines()[-1])
        print(f"{name}: {results[name]}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
