"""Report: every stage's record gathered into summary.json and an HTML report the KFP UI renders."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from components.images import p2m_component


@p2m_component()
def report(
    task: Input[Dataset],
    generated: Input[Dataset],
    data: Input[Dataset],
    model: Input[Model],
    evaluation: Input[Dataset],
    html: Output[HTML],
    summary: Output[Artifact],
    parse_seconds: float,
    labelled_seconds: float,
    generate_seconds: float,
    process_seconds: float,
    train_seconds: float,
    evaluate_seconds: float,
    profile: str = "quick",
    run_info: dict = {},  # noqa: B006 (KFP reads the default from the signature; it is never mutated)
) -> None:
    """Write the run's summary and its report: student vs teacher, learning curve, sample predictions.

    Args:
        task: The parsed task (task.json).
        generated: The generate step's folder (stats.json).
        data: The process step's folder (stats.json).
        model: The trained student (p2m_train_result.json).
        evaluation: The evaluate step's folder (predictions.jsonl, metrics.json).
        html: report.html: student vs teacher (scores and differences on each test set), learning
            curve (validation exact match per training step), training loss, data counts, timings,
            samples.
        summary: summary.json, the same figures as JSON.
        parse_seconds: Seconds the parse step took.
        labelled_seconds: Seconds the gather_labelled step took (loading retrieved data included).
        generate_seconds: Seconds the generate step took.
        process_seconds: Seconds the process step took.
        train_seconds: Seconds the train step took.
        evaluate_seconds: Seconds the evaluate step took.
        profile: The profile the run used.
        run_info: What the caller knows about the run, merged into summary.json: the local runner
            sets runner, out_dir, pipeline_root and model_path; on a cluster it stays empty and
            the runner is "kfp", the model path its artifact URI.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from p2m_lib.stages import report_stage

    timings = {
        "parse": parse_seconds,
        "labelled": labelled_seconds,
        "generate": generate_seconds,
        "process": process_seconds,
        "train": train_seconds,
        "evaluate": evaluate_seconds,
    }
    info = {"runner": "kfp", "profile": profile, "model_path": model.uri, **run_info, "timings": timings}
    folders = (
        Path(task.path),
        Path(generated.path),
        Path(data.path),
        Path(model.path),
        Path(evaluation.path),
    )
    with tempfile.TemporaryDirectory() as scratch:
        report_stage(*folders, Path(scratch), info)
        shutil.move(Path(scratch) / "report.html", html.path)
        shutil.move(Path(scratch) / "summary.json", summary.path)
