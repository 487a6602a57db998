"""Embedded teachers: load time (cold and cached), generated tokens/s by batch size, a labelling
wave's time, peak memory.

Run: .venv/bin/python bench/teacher.py [--models qwen-coder-1.5b,smollm2-135m] [--batch-sizes 1,8,16,32]
         [--max-tokens 32] [--cold]

Each model is measured in a process of its own, so that its peak memory is its own. "Cold" assembles
and converts the model from its installed packages into an empty cache (what the first run on a
fresh machine pays); "cached" loads the converted folder. Tokens/s counts generated tokens only
(sampling at temperature 1 with no stop string, so every sequence runs to --max-tokens) after the
date task's few-shot prompt. Prints one line per figure and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from p2m_lib.embedded import EMBEDDED_MODELS, embedded_model, model_folder  # noqa: E402
from p2m_lib.errors import P2MError  # noqa: E402
from p2m_lib.generate.prompts import OUTPUT_STOP, output_prompt  # noqa: E402
from p2m_lib.types import Example, SamplingParams  # noqa: E402

DEMOS = [Example("March 7, 1994", "1994-03-07"), Example("12/25/1987", "1987-12-25")]
LABELLING_DEMOS = [
    *DEMOS,
    Example("2003.11.02", "2003-11-02"),
    Example("the 9th of August 2012", "2012-08-09"),
]
MONTHS = ("Jan", "February", "Mar.", "April", "May", "June", "July", "Aug", "September", "Oct.")


def measure(name: str, batch_sizes: list[int], max_tokens: int, cold: bool) -> dict:
    """Figures for one model, in this process."""
    from p2m_lib.llm import LocalTeacher

    model = embedded_model(name)
    figures: dict = {"model": name}
    if cold:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["P2M_CACHE_DIR"] = cache
            start = time.perf_counter()
            model_folder(model, log=lambda _: None)
            figures["cold_prepare_s"] = round(time.perf_counter() - start, 1)
        del os.environ["P2M_CACHE_DIR"]
    model_folder(model, log=print)
    teacher = LocalTeacher(embedded=model)
    start = time.perf_counter()
    teacher.load()
    figures["cached_load_s"] = round(time.perf_counter() - start, 1)
    prompt = output_prompt("Rewrite the date in ISO 8601 format.", DEMOS, "4 July 2001")
    for batch in batch_sizes:
        start = time.perf_counter()
        replies = teacher.complete([prompt] * batch, SamplingParams(1, 1.0, max_tokens))
        seconds = time.perf_counter() - start
        tokens = sum(reply.completion_tokens for reply in replies)
        figures[f"batch_{batch}_tokens_per_s"] = round(tokens / seconds, 1)
    figures["labelling_wave_s"] = labelling_wave_seconds(teacher)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return figures


def labelling_wave_seconds(teacher: object) -> float:
    """Seconds for what the generate step sends most: one wave of labelling requests, here 10
    dates each after the same four demonstrations, three samples each (the quick profile's)."""
    inputs = [
        f"{day} {month} {year}"
        for day, month, year in zip(range(3, 13), MONTHS, range(1990, 2000), strict=True)
    ]
    prompts = [
        output_prompt("Rewrite the date in ISO 8601 format.", LABELLING_DEMOS, text) for text in inputs
    ]
    start = time.perf_counter()
    teacher.complete(prompts, SamplingParams(3, 0.5, 16, OUTPUT_STOP))
    return round(time.perf_counter() - start, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(EMBEDDED_MODELS))
    parser.add_argument("--batch-sizes", default="1,8,16,32")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--cold", action="store_true", help="Also time assembly into an empty cache.")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.one:
        print(json.dumps(measure(args.models, batch_sizes, args.max_tokens, args.cold)))
        return
    results = []
    for name in args.models.split(","):
        command = [sys.executable, __file__, "--one", "--models", name, "--batch-sizes", args.batch_sizes]
        command += ["--max-tokens", str(args.max_tokens)] + (["--cold"] if args.cold else [])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
            print(f"{name}: not measured ({reason})")
            results.append({"model": name, "error": reason})
            continue
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(", ".join(f"{key} {value}" for key, value in figures.items()))
        results.append(figures)
    print(json.dumps({"load_average": os.getloadavg()[0], "teachers": results}))


if __name__ == "__main__":
    try:
        main()
    except P2MError as error:
        sys.exit(f"error: {error}")
