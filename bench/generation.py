"""Generation benchmark: the request engine against the simulated endpoint, and teacher duplicates.

Run from the repository root:

    .venv/bin/python bench/generation.py --json                  # throughput, faults, kill and resume
    .venv/bin/python bench/generation.py --local-duplicates 80   # also the embedded teacher (minutes)

Throughput: the simulated endpoint (its own process) takes 100 requests at once and answers each
in 200 ms, so it serves 500 requests/s at best. p2m generates examples against it; the baseline
is a client like the reference implementation's, sending batches of 5 concurrent requests one
after another (3 tries, 10 s sleeps), over the same HTTP library.

Faults: a second endpoint injects 500s, timeouts, malformed and cut-off bodies into 5% of the
requests and rate-limits at 150 requests/s. A generation run in a child process is interrupted
(SIGINT, as Ctrl-C) in the middle, then the same command is run again to the end. Lost examples
are the replies the endpoint was paid for (200 and well-formed) that are not in raw.jsonl at the
end, plus accepted outputs missing from examples.jsonl. Cost is at gpt-4o-mini's price, with the
simulator's tokens counted as words.

Duplicates (--local-duplicates N): the embedded SmolLM2 teacher generates N examples with and
without the few-shot diversity strategy (generated examples in each prompt); the duplicate rate is
the share of new inputs that copy an earlier input or a demonstration, exactly or nearly.

Figures are printed as they come (stderr); the last line of stdout is one JSON object with --json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from p2m_lib.config import GenerationConfig  # noqa: E402
from p2m_lib.generate import EXAMPLES_FILE, RAW_FILE, DatasetGenerator  # noqa: E402
from p2m_lib.generate.filters import NearDuplicateIndex, normalize  # noqa: E402
from p2m_lib.llm import LocalTeacher, OpenAITeacher  # noqa: E402
from p2m_lib.types import Example, TaskSpec  # noqa: E402

MODEL = "gpt-4o-mini"
KEY = "sk-bench-not-a-secret"
TASK = TaskSpec(
    "Reverse the order of the words.",
    (Example("good morning world", "world morning good"), Example("the cat sat down", "down sat cat the")),
)
CAPACITY = {"max_concurrency": 100, "latency": 0.2}
FAULTY = {**CAPACITY, "fault_rate": 0.05, "rate_limit": 150, "hang": 3, "duplicate_rate": 0.1}
BASELINE = {"batch": 5, "tries": 3, "sleep_s": 10.0}
QA_TASK = TaskSpec(
    "Write a short trivia question and its answer.",
    (
        Example("What is the capital of France?", "Paris"),
        Example("How many legs does a spider have?", "Eight"),
        Example("Who wrote Romeo and Juliet?", "William Shakespeare"),
    ),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def simulator(**options: Any) -> Iterator[str]:
    """A simulated endpoint in its own process (its own CPU); yields its base URL."""
    args = [sys.executable, "-m", "p2m_lib.llm.simulator", "--port", "0"]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        yield process.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        process.terminate()
        process.wait(timeout=10)


def endpoint_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=10) as response:
        return json.loads(response.read())


def generation_config(examples: int) -> GenerationConfig:
    return GenerationConfig(num_examples=examples, samples_per_input=3, max_requests=10 * examples)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(line))
    return rows


@contextlib.contextmanager
def reply_rates(base_url: str, every_s: float = 0.5) -> Iterator[list[float]]:
    """Replies a second the endpoint served, polled every `every_s` while the block runs."""
    rates: list[float] = []
    done = threading.Event()

    def poll() -> None:
        last_time, last_count = time.perf_counter(), endpoint_stats(base_url)["replies"]
        while not done.wait(every_s):
            now, count = time.perf_counter(), endpoint_stats(base_url)["replies"]
            rates.append((count - last_count) / (now - last_time))
            last_time, last_count = now, count

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield rates
    finally:
        done.set()
        poller.join()


def measure_p2m(base_url: str, examples: int, folder: Path) -> dict[str, Any]:
    teacher = OpenAITeacher(base_url, MODEL, KEY)
    with reply_rates(base_url) as rates:
        started = time.perf_counter()
        result = DatasetGenerator(teacher, generation_config(examples)).generate(TASK, folder)
        elapsed = time.perf_counter() - started
    # Steady state: the ramp-up of the first second and the tail of the last one left out.
    steady = rates[2:-2] or rates
    return {
        "examples": len(result.examples),
        "requests": result.usage.requests,
        "seconds": round(elapsed, 2),
        "rps": round(result.usage.requests / elapsed, 1),
        "steady_rps": round(statistics.median(steady), 1),
        "final_concurrency": teacher.engine.limit.limit,
    }


def measure_baseline(base_url: str, prompts: list[str]) -> dict[str, Any]:
    """Batches of 5 concurrent requests, one batch after another; a failed request sleeps 10 s, 3 tries."""
    import aiohttp

    async def one(session: aiohttp.ClientSession, prompt: str) -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "n": 3, "max_tokens": 48}
        for _ in range(BASELINE["tries"]):
            try:
                async with session.post(f"{base_url}/chat/completions", json=body) as response:
                    json.loads(await response.read())["choices"]
                    return
            except (aiohttp.ClientError, ValueError, KeyError):
                await asyncio.sleep(BASELINE["sleep_s"])

    async def run() -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as session:
            for start in range(0, len(prompts), BASELINE["batch"]):
                batch = prompts[start : start + BASELINE["batch"]]
                await asyncio.gather(*(one(session, prompt) for prompt in batch))

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    return {"requests": len(prompts), "seconds": round(elapsed, 2), "rps": round(len(prompts) / elapsed, 1)}


def throughput(examples: int, baseline_requests: int) -> dict[str, Any]:
    capacity = CAPACITY["max_concurrency"] / CAPACITY["latency"]
    with simulator(**CAPACITY) as base_url, tempfile.TemporaryDirectory() as folder:
        p2m = measure_p2m(base_url, examples, Path(folder))
        log(
            f"p2m: {p2m['requests']} requests in {p2m['seconds']} s = {p2m['rps']} requests/s of {capacity:g}"
        )
        prompts = [row["prompt"] for row in read_jsonl(Path(folder) / RAW_FILE)][:baseline_requests]
        baseline = measure_baseline(base_url, prompts)
        log(f"baseline: {baseline['requests']} requests in {baseline['seconds']} s = {baseline['rps']} req/s")
    return {"capacity_rps": capacity, "p2m": p2m, "baseline": baseline}


def run_child(base_url: str, folder: Path, examples: int, interrupt_after: int | None) -> dict[str, Any]:
    """`bench/generation.py --child`: one generation run, interrupted with SIGINT once the endpoint
    has been paid for `interrupt_after` replies; returns its result line, or {} when interrupted."""
    command = [sys.executable, __file__, "--child", base_url, str(folder), str(examples)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if interrupt_after is not None:
        while child.poll() is None and endpoint_stats(base_url)["replies"] < interrupt_after:
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=600)
    lines = output.strip().splitlines()
    return json.loads(lines[-1]) if child.returncode == 0 and lines else {}


def child_main(base_url: str, folder: str, examples: int) -> None:
    teacher = OpenAITeacher(base_url, MODEL, KEY, timeout=2.0)
    generator = DatasetGenerator(teacher, generation_config(examples))
    result = generator.generate(TASK, Path(folder))
    summary = {"examples": len(result.examples), "requests": result.usage.requests, "cost": result.cost}
    print(json.dumps(summary | {"faults": result.faults, "rejected": result.rejected}))


def faults_and_resume(examples: int) -> dict[str, Any]:
    with simulator(**FAULTY) as base_url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        estimate = DatasetGenerator(
            OpenAITeacher(base_url, MODEL, KEY), generation_config(examples)
        ).estimate(TASK, folder)
        started = time.perf_counter()
        run_child(base_url, folder, examples, interrupt_after=examples // 2)  # early on
        paid_at_interrupt = endpoint_stats(base_url)["replies"]
        on_disk_at_interrupt = len(read_jsonl(folder / RAW_FILE))
        final = run_child(base_url, folder, examples, interrupt_after=None)
        elapsed = time.perf_counter() - started
        served = endpoint_stats(base_url)
        raw = read_jsonl(folder / RAW_FILE)
        kept = [Example(**row) for row in read_jsonl(folder / EXAMPLES_FILE)]
    accepted = {(r["input"], r["output"]) for r in raw if r["step"] == "output" and r["output"] is not None}
    asked_outputs = Counter(r["input"] for r in raw if r["step"] == "output")
    figures = {
        "examples": len(kept),
        "paid_replies": served["replies"],
        "lost_examples": served["replies"] - len(raw) + len(accepted - {(e.input, e.output) for e in kept}),
        "lost_at_interrupt": paid_at_interrupt - on_disk_at_interrupt,
        "repeated_paid_requests": sum(count - 1 for count in asked_outputs.values()),
        "faults_injected": sum(served["faults"].values()),
        "faults_by_kind": served["faults"],
        "engine_faults_after_resume": final.get("faults", {}),
        "rejected": final.get("rejected", {}),
        "duplicate_pct": duplicate_pct(kept),
        "prompt_tokens": served["prompt_tokens"],
        "completion_tokens": served["completion_tokens"],
        "cost_usd": round(sum(r.get("cost", 0.0) for r in raw), 6),
        "estimated_cost_usd": round(estimate.cost or 0.0, 6),
        "estimated_requests": estimate.requests,
        "requests": len(raw),
        "seconds_with_restart": round(elapsed, 1),
    }
    log(
        f"faults: {figures['faults_injected']} injected {served['faults']}, interrupted at "
        f"{paid_at_interrupt} paid replies, lost {figures['lost_examples']}, "
        f"repeated {figures['repeated_paid_requests']}"
    )
    log(
        f"cost: ${figures['cost_usd']} for {figures['requests']} requests "
        f"(estimated ${figures['estimated_cost_usd']} for {estimate.requests})"
    )
    return figures


def duplicate_pct(examples: list[Example]) -> float:
    """Share of examples whose input copies an earlier one, exactly or nearly."""
    index = NearDuplicateIndex()
    duplicates = 0
    for example in examples:
        if index.find(example.input) is not None:
            duplicates += 1
        index.add(example.input, "seen")
    return round(100 * duplicates / max(len(examples), 1), 2)


def local_duplicates(examples: int) -> dict[str, Any]:
    """Duplicate rate of the embedded teacher's new inputs, with and without few-shot diversity."""
    teacher = LocalTeacher()
    figures = {}
    for label, demonstrations in (("without_diversity", 0), ("with_diversity", 3)):
        config = GenerationConfig(
            num_examples=examples,
            samples_per_input=1,
            demonstrations_per_request=demonstrations,
            max_requests=6 * examples,
        )
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = DatasetGenerator(teacher, config).generate(QA_TASK, Path(folder))
            raw = read_jsonl(Path(folder) / RAW_FILE)
        candidates = [prompts_text for row in raw if row["step"] == "input" for prompts_text in row["texts"]]
        copies = sum(result.rejected.get(r, 0) for r in ("duplicate input", "near-duplicate input"))
        copies += result.rejected.get("copy of a demonstration", 0)
        nonempty = len(candidates) - result.rejected.get("empty input", 0)
        figures[label] = {
            "examples": len(result.examples),
            "input_candidates": nonempty,
            "duplicates": copies,
            "duplicate_pct": round(100 * copies / max(nonempty, 1), 1),
            "exact_duplicates_of_normalized_candidates": nonempty - len({normalize(c) for c in candidates}),
            "requests": result.usage.requests,
            "seconds": round(time.perf_counter() - started, 1),
            "rejected": result.rejected,
        }
        log(f"local teacher {label}: {figures[label]}")
    return figures


def engine_figures(args: argparse.Namespace) -> dict[str, Any]:
    """Throughput against the baseline, then faults with an interrupt and a resume."""
    speed = throughput(args.examples, args.baseline_requests)
    faults = faults_and_resume(args.fault_examples)
    return {
        "capacity_rps": speed["capacity_rps"],
        "p2m_rps": speed["p2m"]["rps"],
        "p2m_steady_rps": speed["p2m"]["steady_rps"],
        "baseline_rps": speed["baseline"]["rps"],
        "p2m_pct_of_capacity": round(100 * speed["p2m"]["rps"] / speed["capacity_rps"], 1),
        "p2m_over_baseline": round(speed["p2m"]["rps"] / speed["baseline"]["rps"], 1),
        "throughput": speed,
        "lost_examples": faults["lost_examples"],
        "duplicate_pct": faults["duplicate_pct"],
        "faults_injected": faults["faults_injected"],
        "cost_usd": faults["cost_usd"],
        "estimated_cost_usd": faults["estimated_cost_usd"],
        "faults": faults,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--examples", type=int, default=3000, help="examples generated for throughput")
    parser.add_argument("--baseline-requests", type=int, default=200)
    parser.add_argument("--fault-examples", type=int, default=600, help="examples generated with faults")
    parser.add_argument("--local-duplicates", type=int, default=0, help="examples per local-teacher run")
    parser.add_argument("--skip-engine", action="store_true", help="only the local-teacher duplicates")
    parser.add_argument("--child", nargs=3, metavar=("URL", "FOLDER", "EXAMPLES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child[0], args.child[1], int(args.child[2]))
        return
    figures: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    }
    if not args.skip_engine:
        figures |= engine_figures(args)
    if args.local_duplicates:
        figures["local_teacher_duplicates"] = local_duplicates(args.local_duplicates)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
