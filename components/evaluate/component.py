"""Evaluate: the student against the teacher prompted with the user's prompt."""

from typing import NamedTuple

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import p2m_component


@p2m_component()
def evaluate(
    task: Input[Dataset],
    model: Input[Model],
    data: Input[Dataset],
    evaluation: Output[Dataset],
    metrics: Output[Metrics],
    profile: str = "quick",
    eval_rows: int = 0,
    test_dataset_path: str = "",
    test_input_col: str = "input",
    test_output_col: str = "output",
    bertscore_model: str = "",
    teacher: str = "auto",
    teacher_base_url: str = "",
    teacher_model: str = "",
    gate: dict = {},  # noqa: B006 (KFP reads the default from the signature; it is never mutated)
) -> NamedTuple("EvaluateOutputs", seconds=float, promote=bool):
    """Score the student and the teacher baseline, then decide whether the student may be deployed.

    Args:
        task: The parsed task (task.json); the teacher baseline is prompted with its prompt.
        model: The trained student.
        data: The process step's splits; scored on test.jsonl.
        evaluation: Folder: predictions.jsonl (student and teacher answers), metrics.json,
            footprint.json and gate.json (the promotion gate's decision and its reasons).
        metrics: Every score, as "<test set>.<metric>" (the student's minus the teacher's exact
            match and its standard error as "<prefix>difference.<figure>"), and the gate's numbers,
            as "gate.<name>" (gate.promote is 1 or 0), listed by the KFP UI.
        profile: quick or standard: how many test examples are scored.
        eval_rows: Rows of each test set to score; 0 keeps the profile's.
        test_dataset_path: A real labelled test file the task can read; empty for none.
        test_input_col: Input column(s) of test_dataset_path, comma-separated.
        test_output_col: Output column of test_dataset_path.
        bertscore_model: Encoder for BERTScore; empty for the embedded MiniLM.
        teacher: auto, local, openai, an embedded model or a folder; used when teacher_base_url is empty.
        teacher_base_url: An OpenAI-compatible endpoint; its key comes from OPENAI_API_KEY.
        teacher_model: The teacher model's name on that endpoint.
        gate: Promotion thresholds: min_exact_match, min_gain_over_teacher (points over the
            prompted teacher; default 0), max_latency_ms; "off" turns one off.

    Returns:
        seconds: Seconds the stage took.
        promote: The gate's decision: deploy this student or not.
    """
    from collections import namedtuple
    from pathlib import Path

    from components.runtime import component_teacher, labelled_data, run_profile, run_timed
    from p2m_lib.evaluate.gate import GateThresholds
    from p2m_lib.stages import evaluate_stage, gate_stage

    thresholds = GateThresholds.from_dict(gate)  # a bad threshold fails before any model loads

    teacher_llm = component_teacher(teacher, teacher_base_url, teacher_model)
    evaluations, seconds = run_timed(
        evaluate_stage,
        Path(task.path),
        Path(model.path),
        Path(data.path),
        Path(evaluation.path),
        teacher_llm,
        run_profile(profile, eval_rows=eval_rows),
        labelled_data(test_dataset_path, test_input_col, test_output_col),
        bertscore_model or None,
    )
    for test_set, scores in evaluations.items():
        for name, value in scores.items():
            metrics.log_metric(f"{test_set}.{name}", value)
    decision = gate_stage(Path(evaluation.path), thresholds)
    for name, value in decision.numbers().items():
        metrics.log_metric(f"gate.{name}", value)
    return namedtuple("EvaluateOutputs", ["seconds", "promote"])(seconds, decision.promote)
