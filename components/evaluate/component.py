"""Evaluate: the student against the teacher prompted with the user's prompt."""

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
    test_dataset_path: str = "",
    test_input_col: str = "input",
    test_output_col: str = "output",
    bertscore_model: str = "",
    teacher: str = "auto",
    teacher_base_url: str = "",
    teacher_model: str = "",
) -> float:
    """Score the student and the teacher baseline: exact match, chrF++ and BERTScore.

    Args:
        task: The parsed task (task.json); the teacher baseline is prompted with its prompt.
        model: The trained student.
        data: The process step's splits; scored on test.jsonl.
        evaluation: Folder: predictions.jsonl (student and teacher answers) and metrics.json.
        metrics: Every score, as "<test set>.<metric>", listed by the KFP UI.
        profile: quick or standard: how many test examples are scored.
        test_dataset_path: A real labelled test file the task can read; empty for none.
        test_input_col: Input column(s) of test_dataset_path, comma-separated.
        test_output_col: Output column of test_dataset_path.
        bertscore_model: Encoder for BERTScore; empty for the embedded MiniLM.
        teacher: auto, local, openai, an embedded model or a folder; used when teacher_base_url is empty.
        teacher_base_url: An OpenAI-compatible endpoint; its key comes from OPENAI_API_KEY.
        teacher_model: The teacher model's name on that endpoint.

    Returns:
        Seconds the stage took.
    """
    from pathlib import Path

    from components.runtime import component_teacher, labelled_data, run_profile, run_timed
    from p2m_lib.stages import evaluate_stage

    teacher_llm = component_teacher(teacher, teacher_base_url, teacher_model)
    evaluations, seconds = run_timed(
        evaluate_stage,
        Path(task.path),
        Path(model.path),
        Path(data.path),
        Path(evaluation.path),
        teacher_llm,
        run_profile(profile),
        labelled_data(test_dataset_path, test_input_col, test_output_col),
        bertscore_model or None,
    )
    for test_set, scores in evaluations.items():
        for name, value in scores.items():
            metrics.log_metric(f"{test_set}.{name}", value)
    return seconds
