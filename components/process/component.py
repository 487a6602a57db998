"""Process: generated and labelled examples as textualized train/val/test splits."""

from kfp.dsl import Dataset, Input, Output

from components.images import p2m_component


@p2m_component()
def process(
    task: Input[Dataset],
    generated: Input[Dataset],
    labelled: Input[Dataset],
    data: Output[Dataset],
    student: str = "",
    profile: str = "quick",
    seed: int = 42,
) -> float:
    """Merge the generated examples with the labelled ones into shuffled splits.

    Args:
        task: The parsed task (task.json).
        generated: The generate step's folder (examples.jsonl, stats.json).
        labelled: The gather_labelled step's folder: the user's and retrieved labelled examples.
        data: Folder: train.jsonl, val.jsonl, test.jsonl (textualized for the student), stats.json.
        student: The student's folder or hub name (its architecture decides the template);
            empty for the embedded SmolLM2.
        profile: quick or standard: the validation and test fractions.
        seed: Seed for shuffling and splitting.

    Returns:
        Seconds the stage took.
    """
    from pathlib import Path

    from components.runtime import run_profile, run_timed
    from p2m_lib.stages import process_stage

    _, seconds = run_timed(
        process_stage,
        Path(task.path),
        Path(generated.path),
        Path(data.path),
        student or None,
        run_profile(profile),
        Path(labelled.path),
        seed,
    )
    return seconds
