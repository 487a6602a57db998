"""The `p2m` command: parse a prompt, or run it end to end into a trained, evaluated model."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.logging import RichHandler

from p2m_lib.cli.common import user_errors
from p2m_lib.errors import P2MError
from p2m_lib.progress import console

if TYPE_CHECKING:
    from p2m_lib.llm.cost import Estimate
    from pipelines.local import RunOptions

app = typer.Typer(
    help="From a prompt to a small, evaluated, deployable model (Prompt2Model).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register_subcommands() -> None:
    """Commands whose modules live beside this one (retrieval, serving, deployment, Kubeflow)."""
    from p2m_lib.cli.fleet import status_command
    from p2m_lib.cli.kfp import compile_command, submit_command
    from p2m_lib.cli.retrieval import index_app, retrieve_app
    from p2m_lib.cli.serving import register_serving_commands

    app.add_typer(index_app, name="index")
    app.add_typer(retrieve_app, name="retrieve")
    register_serving_commands(app)
    app.command("compile")(user_errors(compile_command))
    app.command("submit")(user_errors(submit_command))
    app.command("status")(user_errors(status_command))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every stage.")] = False) -> None:
    """Set up logging to stderr; stdout is kept for results (`--json`)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
        force=True,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


PromptFile = Annotated[
    Path, typer.Option("--prompt-file", "-p", help="Prompt: an instruction and demonstrations.")
]


TEACHER_HELP = (
    "auto, local, openai, an embedded model (qwen-coder-1.5b, qwen-coder-0.5b, smollm2-135m) "
    "or a model folder."
)


@app.command()
@user_errors
def parse(
    prompt_file: PromptFile,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    teacher: Annotated[str, typer.Option(help=TEACHER_HELP)] = "auto",
) -> None:
    """Split a prompt into its instruction and demonstrations, and say how it presents an input."""
    from p2m_lib.llm import make_teacher
    from p2m_lib.parse import parse_prompt, read_prompt

    task = parse_prompt(read_prompt(prompt_file), make_teacher(teacher))
    parsed = {
        "instruction": task.instruction,
        "examples": [e.to_dict() for e in task.examples],
        "layout": task.layout.to_dict(),
    }
    if as_json:
        typer.echo(json.dumps(parsed, ensure_ascii=False))
        return
    console.print(f"[bold]instruction:[/] {task.instruction}", highlight=False)
    for index, example in enumerate(task.examples, 1):
        console.print(f"[bold]{index}.[/] {example.input!r} -> {example.output!r}", highlight=False)
    console.print(f"[bold]an input is asked as:[/] {task.layout.present('…')!r}", highlight=False)


@app.command()
@user_errors
def run(
    prompt_file: Annotated[
        Path | None, typer.Option("--prompt-file", "-p", help="Prompt: an instruction and demonstrations.")
    ] = None,
    fleet: Annotated[
        Path | None, typer.Option(help="A fleet file: run each of its tasks instead of one prompt.")
    ] = None,
    parallel: Annotated[int, typer.Option(help="With --fleet: tasks run at once.")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder (runs/latest); rerun into it to resume. --fleet: their parent (runs/fleet).",
        ),
    ] = None,
    profile: Annotated[str, typer.Option(help="quick or standard.")] = "quick",
    teacher: Annotated[str, typer.Option(help=TEACHER_HELP)] = "auto",
    student: Annotated[
        str | None,
        typer.Option(help="An embedded model (smollm2-135m, qwen-coder-0.5b), a model folder or hub name."),
    ] = None,
    dataset: Annotated[Path | None, typer.Option(help="Labelled data to train on (JSONL, CSV, ...).")] = None,
    input_col: Annotated[str, typer.Option(help="Input column(s) of --dataset, comma-separated.")] = "input",
    output_col: Annotated[str, typer.Option(help="Output column of --dataset.")] = "output",
    test_dataset: Annotated[Path | None, typer.Option(help="Real labelled data to evaluate on.")] = None,
    test_input_col: Annotated[str | None, typer.Option(help="Defaults to --input-col.")] = None,
    test_output_col: Annotated[str | None, typer.Option(help="Defaults to --output-col.")] = None,
    dataset_index: Annotated[
        Path | None,
        typer.Option(help="A dataset index (p2m index datasets): also train on the best dataset found."),
    ] = None,
    model_index: Annotated[
        Path | None, typer.Option(help="A model index (p2m index models): the student is its best fit.")
    ] = None,
    retrieved_dataset: Annotated[
        str,
        typer.Option(help="Also train on this Hub dataset (NAME or NAME:CONFIG) instead of the best found."),
    ] = "",
    retrieved_columns: Annotated[
        str, typer.Option(help="Its columns as IN[,IN...]->OUT (default: catalog, teacher or names).")
    ] = "",
    num_examples: Annotated[int | None, typer.Option(help="Examples to generate (profile default).")] = None,
    max_requests: Annotated[
        int | None, typer.Option(help="Most teacher requests, over all runs into --out (profile default).")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Most USD to spend on the teacher, over all runs into --out.")
    ] = None,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Print expected requests, tokens and cost, then exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --estimate: print JSON.")] = False,
    eval_rows: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Rows of each test set to score, --test-dataset's and the held-out split's "
            "(profile default: quick 40, standard 200). More rows tell a real difference from luck.",
        ),
    ] = None,
    bertscore_model: Annotated[str | None, typer.Option(help="BERTScore encoder (embedded MiniLM).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling, splits and training.")] = 42,
    judge: Annotated[
        bool, typer.Option("--judge", help="The teacher checks each generated pair; those it rejects go.")
    ] = False,
    lora: Annotated[
        bool, typer.Option("--lora", help="Train LoRA adapters (learning rate 1e-3) instead of every weight.")
    ] = False,
    learning_rate: Annotated[
        float | None, typer.Option(help="Peak learning rate (profile default, or 1e-3 with --lora).")
    ] = None,
    min_exact_match: Annotated[
        float | None, typer.Option(help="Gate: least student exact match on the test set.")
    ] = None,
    min_gain_over_teacher: Annotated[
        float, typer.Option(help="Gate: least student minus prompted teacher exact match, in points.")
    ] = 0.0,
    max_latency_ms: Annotated[
        float | None, typer.Option(help="Gate: most milliseconds per student answer.")
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc", min=1, help="Train with N CPU processes (torchrun, gloo), each a share of every batch."
        ),
    ] = 1,
) -> None:
    """Run every stage (parse, retrieve, generate, process, train, evaluate, report) as the
    prompt2model pipeline on KFP's local runner; rerun into the same --out to resume."""
    from dataclasses import replace

    if (prompt_file is None) == (fleet is None):
        raise P2MError("give --prompt-file (one task) or --fleet (a fleet file's tasks)")
    if fleet is not None:
        from p2m_lib.cli.fleet import run_fleet

        run_fleet(fleet, out or Path("runs/fleet"), parallel)
        return
    out = out or Path("runs/latest")

    from p2m_lib.config import get_profile, tuned_training
    from p2m_lib.evaluate.gate import GateThresholds
    from p2m_lib.stages import LabelledData
    from pipelines.local import RunOptions, run_pipeline_locally

    chosen = get_profile(profile)
    limits = {"num_examples": num_examples, "max_requests": max_requests, "max_cost": max_cost}
    chosen = replace(
        chosen,
        generation=replace(
            chosen.generation,
            **{k: v for k, v in limits.items() if v is not None},
            judge=judge or chosen.generation.judge,
        ),
        train=tuned_training(chosen.train, lora, learning_rate),
        max_eval_examples=eval_rows or chosen.max_eval_examples,
    )
    options = RunOptions(
        prompt_file=prompt_file,
        out_dir=out,
        profile=chosen,
        teacher=teacher,
        student=student,
        dataset=LabelledData(dataset, input_col, output_col) if dataset else None,
        test_dataset=(
            LabelledData(test_dataset, test_input_col or input_col, test_output_col or output_col)
            if test_dataset
            else None
        ),
        dataset_index=dataset_index,
        model_index=model_index,
        retrieved_dataset=retrieved_dataset,
        retrieved_columns=retrieved_columns,
        bertscore_model=bertscore_model,
        seed=seed,
        gate=GateThresholds(min_exact_match, min_gain_over_teacher, max_latency_ms),
        processes=nproc,
    )
    if estimate:
        expected = _estimate(options)
        typer.echo(json.dumps(expected.to_dict()) if as_json else expected.describe())
        return
    summary = run_pipeline_locally(options)
    _print_summary(summary, out)


def _estimate(options: RunOptions) -> Estimate:
    """The expected requests, tokens and cost of the run's generation.

    Nothing is generated; with a capable teacher, parsing the prompt costs one small request.
    """
    from p2m_lib.llm import make_teacher
    from p2m_lib.parse import parse_prompt, read_prompt
    from p2m_lib.stages import estimate_generation

    teacher = make_teacher(options.teacher)
    task = parse_prompt(read_prompt(options.prompt_file), teacher)
    generation = options.profile.generation
    return estimate_generation(task, options.out_dir / "generated", teacher, generation, options.seed)


# (prefix of a test set's keys in summary.json, its name in the closing table): the real one first.
_TEST_SETS = (("real_", "your test set"), ("", "held-out split"))


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    """The closing table: the real test set first (the score to trust), then the held-out split,
    what its labels are worth, and how much smaller and faster the student is."""
    from rich.table import Table

    from p2m_lib.evaluate.report import difference_note, label_trust

    table = Table(title=f"{summary['model']['name']} vs the teacher {summary['teacher']['name']}")
    table.add_column("test set", no_wrap=True)
    for column in ("student EM", "teacher EM", "student chrF++", "teacher chrF++", "n"):
        table.add_column(column, justify="right")
    for prefix, label in _TEST_SETS:
        if f"{prefix}metrics" not in summary:
            continue
        student, teacher = summary[f"{prefix}metrics"], summary[f"{prefix}baseline_metrics"]
        table.add_row(
            label,
            f"{student['exact_match']:.1f}",
            f"{teacher['exact_match']:.1f}",
            f"{student['chrf']:.1f}",
            f"{teacher['chrf']:.1f}",
            str(student["count"]),
        )
    console.print(table)
    for prefix, label in _TEST_SETS:
        if difference := summary.get(f"{prefix}difference"):
            console.print(f"{label}: {difference_note(difference)}", highlight=False)
    for note in label_trust(summary):
        console.print(note, style="dim", highlight=False)
    if gate := summary.get("gate"):
        verdict = "[green]promote[/]" if gate["promote"] else "[red]do not promote[/]"
        console.print(f"gate: {verdict} ({'; '.join(gate['reasons'])})", highlight=False)
    footprint = summary.get("footprint") or {}
    if footprint:
        console.print(f"size: {_size(footprint['student'])} vs the teacher's {_size(footprint['teacher'])}")
    data = summary["data"]
    retrieved = data.get("retrieved_dataset")
    retrieved_from = f" from {retrieved['name']}" if retrieved else ""
    console.print(
        f"data: {data['generated']} generated, {data['dataset']} from --dataset, "
        f"{data.get('retrieved', 0)} retrieved{retrieved_from}; "
        f"teacher rejected: {', '.join(f'{n} {why}' for why, n in data['rejected'].items()) or 'none'}",
        highlight=False,
    )
    console.print(f"model: {out / 'model'}   report: {out / 'report.html'}   summary: {out / 'summary.json'}")


def _size(model: dict[str, Any]) -> str:
    """ "135M parameters, 538 MB, 40 ms an answer", leaving out what is unknown."""
    parts = []
    if model.get("parameters"):
        parts.append(f"{model['parameters'] / 1e6:,.0f}M parameters")
    if model.get("disk_bytes"):
        parts.append(f"{model['disk_bytes'] / 1e6:,.0f} MB")
    if model.get("ms_per_answer") is not None:
        parts.append(f"{model['ms_per_answer']:,.0f} ms an answer")
    return ", ".join(parts) or "unknown"


_register_subcommands()
