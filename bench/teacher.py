"""Embedded teacher throughput: generated tokens per second at several batch sizes.

Run: .venv/bin/python bench/teacher.py [--batch-sizes 1,4,8] [--max-tokens 48]
Prints one line per batch size and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import time

from p2m_lib.generate.prompts import input_prompt
from p2m_lib.llm import LocalTeacher
from p2m_lib.types import Example, SamplingParams

DEMOS = [Example("March 7, 1994", "1994-03-07"), Example("12/25/1987", "1987-12-25")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-sizes", default="1,4,8")
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    teacher = LocalTeacher()
    start = time.perf_counter()
    teacher.complete(["Hello"], SamplingParams(max_tokens=1))
    figures = {"load_s": round(time.perf_counter() - start, 1)}
    prompt = input_prompt("Rewrite the date in ISO 8601 format.", DEMOS)
    for batch in map(int, args.batch_sizes.split(",")):
        start = time.perf_counter()
        # No stop strings: every sequence runs to max_tokens, so tokens/s is the raw decoding speed.
        replies = teacher.complete([prompt] * batch, SamplingParams(1, 1.0, args.max_tokens))
        seconds = time.perf_counter() - start
        tokens = sum(reply.completion_tokens for reply in replies)
        figures[f"batch_{batch}_tokens_per_s"] = round(tokens / seconds, 1)
        print(f"batch {batch}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tokens/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
