"""Overhead of KFP's local runner: one run through `run_pipeline_locally`, one through the stages in process.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python bench/kfp_overhead.py --json                       # tiny student, seconds
    PYTHONPATH=. .venv/bin/python bench/kfp_overhead.py --student default --max-steps 4 --json

Both runners get the same options: a loopback OpenAI-compatible teacher that answers at once
(so generation costs only the requests' round trips), the labelled-free quick profile with
`--num-examples` generated examples and at most `--max-steps` training steps, and the student
(`tiny`: a two-layer Llama with the SmolLM2 tokenizer, built here; `default`: the embedded
SmolLM2-135M, the quick profile's student). Runs alternate between the runners, each into a
fresh folder and in a fresh Python process timed from its start, as `p2m run` is. Overhead =
the local runner's wall time minus the in-process baseline's; it does not grow with the number of
training steps, since both runners train the same steps the same way.
`quick_fraction` relates it to a full quick-profile run (at most 60 steps), estimated as this
run's in-process time plus the skipped steps at the seconds per step measured by one more
in-process run with twice the steps (the difference of the two train stages, so model loading
and imports are not counted as steps).

Figures are printed as they come (stderr); the last line of stdout is one JSON object with --json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from openai_server import OpenAICompatServer  # noqa: E402

from p2m_lib import stages  # noqa: E402
from p2m_lib.config import get_profile  # noqa: E402
from p2m_lib.train import default_student  # noqa: E402
from pipelines.local import RunOptions, run_pipeline_locally  # noqa: E402

PROMPT = "Write the word in capital letters.\n\nInput: apple\nOutput: APPLE\n\nInput: river\nOutput: RIVER\n"
QUICK_MAX_STEPS = get_profile("quick").train.max_steps


def uppercase_reply(request: dict[str, Any]) -> list[str]:
    """A new word for an input request, its upper case for an output request."""
    prompt = request["messages"][-1]["content"]
    uppercase_reply.served += 1
    if prompt.endswith("Input:"):
        return [f" word{uppercase_reply.served}"] * int(request.get("n", 1))
    words = re.findall(r"Input: (.*)\nOutput:$", prompt)
    return [f" {words[0].upper() if words else 'OK'}"] * int(request.get("n", 1))


uppercase_reply.served = 0


def tiny_student(folder: Path) -> Path:
    """A randomly initialised two-layer Llama with the SmolLM2 tokenizer (as tests/conftest.py builds)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from p2m_lib.embedded import smollm2_gguf

    gguf_folder, gguf_name = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file=gguf_name)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def options_for(work: Path, student: str | None, num_examples: int, max_steps: int) -> RunOptions:
    quick = get_profile("quick")
    profile = dataclasses.replace(
        quick,
        generation=dataclasses.replace(quick.generation, num_examples=num_examples),
        train=dataclasses.replace(quick.train, max_steps=max_steps),
    )
    prompt_file = work / "prompt.txt"
    prompt_file.write_text(PROMPT)
    return RunOptions(prompt_file=prompt_file, out_dir=work / "run", profile=profile, student=student)


def run_stages_in_process(options: RunOptions) -> dict[str, Any]:
    """The baseline: the pipeline's stage functions in order in this process, each timed.

    It honours only what this benchmark sets (no labelled data, no retrieval), and returns the
    summary it writes to summary.json, with the same `timings` keys as the pipeline's.
    """
    from p2m_lib.llm import make_teacher
    from p2m_lib.parse import read_prompt

    out, profile, seed, student = options.out_dir, options.profile, options.seed, options.student
    out.mkdir(parents=True, exist_ok=True)
    prompt = read_prompt(options.prompt_file)
    teacher = make_teacher(options.teacher)
    task, generated, labelled, data, model = (
        out / name for name in ("task.json", "generated", "labelled", "data", "model")
    )
    steps = {
        "parse": lambda: stages.parse_stage(prompt, task, teacher),
        "generate": lambda: stages.generate_stage(task, generated, teacher, profile.generation, seed),
        "labelled": lambda: stages.labelled_stage(task, labelled),
        "process": lambda: stages.process_stage(task, generated, data, student, profile, labelled, seed),
        "train": lambda: stages.train_stage(task, data, student, profile.train, model, out / "checkpoints"),
        "evaluate": lambda: stages.evaluate_stage(task, model, data, out, teacher, profile),
    }
    timings = {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        timings[name] = round(time.perf_counter() - start, 2)
    run_info = {"runner": "in-process", "profile": profile.name, "model_path": "model", "timings": timings}
    return stages.report_stage(task, generated, data, model, out, out, run_info)


RUNNERS = {"in_process": run_stages_in_process, "kfp_local": run_pipeline_locally}


def timed_run(runner: str, options: RunOptions) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one run in a fresh Python process (imports included), and its summary."""
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    child = context.Process(target=_run_child, args=(runner, options))
    child.start()
    child.join()
    wall = time.perf_counter() - start
    if child.exitcode:
        raise SystemExit(f"the {runner} run failed (exit code {child.exitcode}); see {options.out_dir}")
    return wall, json.loads((options.out_dir / "summary.json").read_text())


def _run_child(runner: str, options: RunOptions) -> None:
    RUNNERS[runner](options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", choices=("tiny", "default"), default="tiny")
    parser.add_argument("--num-examples", type=int, default=12)
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()

    walls: dict[str, list[float]] = {name: [] for name in RUNNERS}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in RUNNERS}
    with (
        tempfile.TemporaryDirectory(prefix="p2m-bench-") as scratch,
        OpenAICompatServer(reply=uppercase_reply) as server,
    ):
        os.environ.update(
            P2M_LLM_BASE_URL=server.base_url, P2M_LLM_MODEL="scripted", OPENAI_API_KEY="sk-bench"
        )
        student = str(tiny_student(Path(scratch) / "tiny")) if args.student == "tiny" else None
        if student is None:  # converted once, before any timing, as on a machine that ran p2m before
            default_student()
        for repeat in range(args.repeats):
            for name in RUNNERS:
                work = Path(tempfile.mkdtemp(dir=scratch))
                wall, summary = timed_run(name, options_for(work, student, args.num_examples, args.max_steps))
                walls[name].append(wall)
                stages[name].append(summary["timings"])
                print(f"repeat {repeat} {name}: {wall:.1f} s, stages {summary['timings']}", file=sys.stderr)

        work = Path(tempfile.mkdtemp(dir=scratch))
        _, longer = timed_run("in_process", options_for(work, student, args.num_examples, 2 * args.max_steps))

    direct, kfp = statistics.median(walls["in_process"]), statistics.median(walls["kfp_local"])
    train_seconds = statistics.median(t["train"] for t in stages["in_process"])
    per_step = max(0.0, longer["timings"]["train"] - train_seconds) / args.max_steps
    quick_estimate = direct + max(0, QUICK_MAX_STEPS - args.max_steps) * per_step
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "student": args.student,
        "num_examples": args.num_examples,
        "max_steps": args.max_steps,
        "repeats": args.repeats,
        "in_process_s": round(direct, 1),
        "kfp_local_s": round(kfp, 1),
        "overhead_s": round(kfp - direct, 1),
        "overhead_fraction": round((kfp - direct) / direct, 3),
        "stage_seconds_in_process": {
            k: round(statistics.median(t[k] for t in stages["in_process"]), 1)
            for k in stages["in_process"][0]
        },
        "stage_seconds_kfp_local": {
            k: round(statistics.median(t[k] for t in stages["kfp_local"]), 1) for k in stages["kfp_local"][0]
        },
        "seconds_per_step": round(per_step, 2),
        "quick_estimate_s": round(quick_estimate, 1),
        "quick_fraction": round((kfp - direct) / quick_estimate, 3),
    }
    print(
        f"overhead {result['overhead_s']} s = {result['overhead_fraction']:.1%} of this run, "
        f"{result['quick_fraction']:.1%} of a quick-profile run (~{quick_estimate:.0f} s)",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
