"""Serving throughput and latency: the trained student against the local teacher, batching on and off.

Each (model, batching) pair runs a real KServe ModelServer in its own process on loopback; then
1, 8 and 64 closed-loop clients each send one-input V1 requests, one after another, for a fixed
time. A request counts when it completes inside that window; requests still running at the end
are awaited for at most the same time again, then abandoned (and reported).

- student: --student-dir, else the newest trained model of a run (runs/*/model); when there is
  none, the default student (SmolLM2-135M) fine-tuned briefly with LoRA on the
  date-normalisation example into runs/bench-serving/model, kept for the next run.
- teacher: the embedded SmolLM2-135M-Instruct answering each input after the example's prompt
  (as evaluation's baseline does), behind the same server code and batcher.

Both answer the date-normalisation test inputs. Batching on: up to --max-batch-size inputs per
batch, --max-wait-ms; off: --max-batch-size 1. Each server runs --threads torch threads (1 by
default: on a shared 2-core machine, 2 threads thrash and run several times slower).
Run: .venv/bin/python bench/serving.py [--seconds 20] [--concurrency 1,8,64] [--models student,teacher]
         [--student-dir runs/example/model]
Prints one line per configuration and a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "date_normalization"
BENCH_RUN = ROOT / "runs" / "bench-serving"
START_TIMEOUT_S = 300.0


def read_rows(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (EXAMPLE / name).read_text().splitlines() if line.strip()]


def student_dir(train_steps: int) -> Path:
    """A run's trained model, else one trained briefly here (once)."""
    from p2m_lib.process import TEMPLATE_FILE

    trained = sorted(ROOT.glob(f"runs/*/model/{TEMPLATE_FILE}"), key=lambda path: path.stat().st_mtime)
    if trained:
        return trained[-1].parent
    return train_student(train_steps)


def train_student(steps: int) -> Path:
    from p2m_lib.config import TrainConfig
    from p2m_lib.parse import parse_prompt
    from p2m_lib.process import TaskTemplate
    from p2m_lib.train import default_student, train

    task = parse_prompt((EXAMPLE / "prompt.txt").read_text())
    config = TrainConfig(lora=True, max_steps=steps, batch_size=8, learning_rate=1e-3, max_length=64, seed=0)
    template = TaskTemplate(task.instruction, "decoder-only")
    print(f"training the default student for {steps} LoRA steps into {BENCH_RUN / 'model'}", flush=True)
    train(
        read_rows("train.jsonl"),
        [],
        default_student(),
        template,
        config,
        BENCH_RUN / "model",
        BENCH_RUN / "ckpt",
    )
    return BENCH_RUN / "model"


class TeacherPredictor:
    """The local teacher answering inputs after the user's prompt; `StudentPredictor.predict`'s signature."""

    def __init__(self, max_new_tokens: int) -> None:
        from p2m_lib.llm import LocalTeacher
        from p2m_lib.parse import parse_prompt
        from p2m_lib.types import SamplingParams

        self.task = parse_prompt((EXAMPLE / "prompt.txt").read_text())
        self.max_new_tokens = max_new_tokens
        self.teacher = LocalTeacher()
        self.teacher.complete(["Hello"], SamplingParams(max_tokens=1))  # load before serving

    def predict(self, inputs, batch_size: int = 8, max_new_tokens: int | None = None) -> list[str]:
        from p2m_lib.evaluate.baseline import baseline_prompt, baseline_stops
        from p2m_lib.generate.prompts import extract_output
        from p2m_lib.types import SamplingParams

        params = SamplingParams(
            n=1,
            temperature=0.0,
            max_tokens=max_new_tokens or self.max_new_tokens,
            stop=baseline_stops(self.task),
        )
        answers: list[str] = []
        for start in range(0, len(inputs), batch_size):
            prompts = [baseline_prompt(self.task, text) for text in inputs[start : start + batch_size]]
            answers += [
                extract_output(c.texts[0]) if c.texts else "" for c in self.teacher.complete(prompts, params)
            ]
        return answers


def serve_teacher(port: int, max_batch_size: int, max_wait_ms: float, max_new_tokens: int) -> None:
    """Run the teacher behind the same KServe model class and server as the student."""
    from p2m_lib.serve.config import ServeConfig
    from p2m_lib.serve.model import StudentModel
    from p2m_lib.serve.server import HostModelServer

    config = ServeConfig(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)
    model = StudentModel("teacher", ROOT, config, TeacherPredictor(max_new_tokens))
    model.load()
    HostModelServer("127.0.0.1", port).start([model])


def start_server(
    kind: str, model_dir: Path, port: int, batch: int, args: argparse.Namespace, tokens: int
) -> subprocess.Popen:
    if kind == "student":
        command = [sys.executable, "-m", "p2m_lib.serve", str(model_dir), "--name", "student"]
    else:
        command = [sys.executable, __file__, "--serve-teacher", "--max-new-tokens", str(tokens)]
    command += ["--port", str(port), "--max-batch-size", str(batch), "--max-wait-ms", str(args.max_wait_ms)]
    env = os.environ | {"OMP_NUM_THREADS": str(args.threads)}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def wait_ready(url: str, process: subprocess.Popen) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < START_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.TransportError:
            time.sleep(0.5)
    raise RuntimeError("server not ready in time")


async def load(url: str, name: str, inputs: list[str], clients: int, seconds: float) -> dict:
    """Closed-loop clients for `seconds`; figures over the requests completed inside the window."""
    latencies: list[float] = []
    errors = late = 0
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(session: httpx.AsyncClient) -> None:
        nonlocal errors, late, sent
        while time.perf_counter() < deadline:
            text = inputs[sent % len(inputs)]
            sent += 1
            start = time.perf_counter()
            try:
                response = await session.post(f"/v1/models/{name}:predict", json={"instances": [text]})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            end = time.perf_counter()
            if end > deadline:
                late += 1
            elif ok:
                latencies.append(end - start)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as session:
        tasks = [asyncio.ensure_future(client(session)) for _ in range(clients)]
        done, pending = await asyncio.wait(tasks, timeout=2 * seconds)
        for task in pending:
            task.cancel()
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "late": late,
        "abandoned": len(pending),
        "requests_per_s": round(len(latencies) / seconds, 2),
        "p50_ms": round(_percentile(latencies, 50) * 1000) if latencies else None,
        "p99_ms": round(_percentile(latencies, 99) * 1000) if latencies else None,
    }


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def exact_match(url: str, name: str, rows: list[dict[str, str]]) -> float:
    """Exact match (%) of the served answers on the test rows (one request holding them all)."""
    inputs = [row["input"] for row in rows]
    answers = httpx.post(f"{url}/v1/models/{name}:predict", json={"instances": inputs}, timeout=None).json()
    hits = sum(a == row["output"] for a, row in zip(answers["predictions"], rows, strict=True))
    return round(100 * hits / len(rows), 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_model(kind: str, model_dir: Path, args: argparse.Namespace, rows: list[dict[str, str]]) -> dict:
    tokens = json.loads((model_dir / "generation_config.json").read_text())["max_new_tokens"]
    inputs = [row["input"] for row in rows]
    figures: dict = {"max_new_tokens": tokens}
    for batching, batch in (("on", args.max_batch_size), ("off", 1)):
        port = free_port()
        process = start_server(kind, model_dir, port, batch, args, tokens)
        url = f"http://127.0.0.1:{port}"
        try:
            load_s = wait_ready(url, process)
            if batching == "on":
                figures["exact_match_16"] = exact_match(url, kind, rows[:16])
            runs = [
                asyncio.run(load(url, kind, inputs, clients, args.seconds)) for clients in args.concurrency
            ]
        finally:
            process.terminate()
            process.wait(timeout=60)
        figures[f"batching_{batching}"] = {"server_start_s": round(load_s, 1), "runs": runs}
        for run in runs:
            print(
                f"{kind:8} batching {batching:3} clients {run['clients']:3}: "
                f"{run['requests_per_s']:7.2f} req/s "
                f"p50 {run['p50_ms']} ms p99 {run['p99_ms']} ms errors {run['errors']} "
                f"(requests {run['requests']}, late {run['late']}, abandoned {run['abandoned']})",
                flush=True,
            )
    on, off = figures["batching_on"]["runs"][-1], figures["batching_off"]["runs"][-1]
    figures["speedup_at_max_clients"] = round(on["requests_per_s"] / max(off["requests_per_s"], 1e-9), 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured window per configuration.")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--models", default="student,teacher")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument(
        "--threads", type=int, default=1, help="Torch threads of each server (OMP_NUM_THREADS)."
    )
    parser.add_argument(
        "--student-dir", type=Path, help="The student's model folder (default: the newest runs/*/model)."
    )
    parser.add_argument("--train-steps", type=int, default=12, help="LoRA steps when no run's model exists.")
    parser.add_argument("--serve-teacher", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--max-new-tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_teacher:
        serve_teacher(args.port, args.max_batch_size, args.max_wait_ms, args.max_new_tokens)
        return
    args.concurrency = [int(n) for n in args.concurrency.split(",")]
    rows = read_rows("test.jsonl")
    model_dir = args.student_dir.resolve() if args.student_dir else student_dir(args.train_steps)
    figures: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "student_model": str(model_dir.relative_to(ROOT) if model_dir.is_relative_to(ROOT) else model_dir),
        "seconds_per_configuration": args.seconds,
        "max_batch_size": args.max_batch_size,
        "max_wait_ms": args.max_wait_ms,
        "server_threads": args.threads,
    }
    for kind in args.models.split(","):
        figures[kind] = bench_model(kind, model_dir, args, rows)
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
