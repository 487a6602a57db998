"""Train: fine-tune the student on the splits; resumable from checkpoints; runs on the GPU image."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import TRAINER, p2m_component


@p2m_component(TRAINER)
def train(
    task: Input[Dataset],
    data: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    student: str = "",
    profile: str = "quick",
    training: dict = {},  # noqa: B006 (KFP reads the default from the signature; it is never mutated)
    work_dir: str = "",
    processes: int = 1,
) -> float:
    """Fine-tune the student text-to-text: loss on the output tokens only, AdamW, optional LoRA;
    validation exact match picks the checkpoint kept and stops training early.

    Args:
        task: The parsed task (task.json); its instruction goes into every training prompt.
        data: The process step's splits (train.jsonl, val.jsonl).
        model: The trained student: Hugging Face folder, tokenizer, p2m_template.json, model card.
        metrics: Steps, parameter counts, the last training loss, the step kept and its validation
            exact match, listed by the KFP UI.
        student: The student's folder or hub name; empty for the embedded SmolLM2.
        profile: quick or standard: the training budget.
        training: TrainConfig fields to change, e.g. {"epochs": 3, "learning_rate": 5e-5, "lora": true}.
        work_dir: Folder for checkpoints (locally the run folder, on a cluster a mounted volume),
            so that a rerun continues from the last one; empty: a temporary folder.
        processes: Training processes in this task, on CPU (torchrun, gloo); 1 trains in the task's
            own process, on its GPU if it has one.

    Returns:
        Seconds the stage took.
    """
    from pathlib import Path

    from components.runtime import log_training, run_profile, run_timed, work_folder
    from p2m_lib.stages import train_stage

    config = run_profile(profile, training=training).train
    with work_folder(work_dir, "checkpoints") as checkpoints:
        record, seconds = run_timed(
            train_stage,
            Path(task.path),
            Path(data.path),
            student or None,
            config,
            Path(model.path),
            checkpoints,
            processes,
        )
    log_training(record, model, metrics)
    return seconds
