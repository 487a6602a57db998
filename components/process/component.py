"""Process: generated and labelled examples as textualized train/val/test splits."""

from kfp.dsl import Dataset, Input, Output

from components.images import p2m_component


@p2m_component()
def process(
    task: Input[Dataset],
    generated: Input[Dataset],
    data: Output[Dataset],
    student: str = "",
    profile: str = "quick",
    dataset_path: str = "",
    input_col: str = "input",
    output_col: str = "output",
    seed: int = 42,
) -> float:
    """Merge the generated examples with the user's labelled data into shuffled splits.

    Args:
        task: The parsed task (task.json).
        generated: The generate step's folder (examples.jsonl, stats.json).
        data: Folder: train.jsonl, val.jsonl, test.jsonl (textualized for the student), stats.json.
        student: The student's folder or hub name (its architecture decides the template);
            empty for the embedded SmolLM2.
        profile: quick or standard: the validation and test fractions.
        dataset_path: A labelled file the task can read (JSONL, CSV, ...): a local path, or a path
            on the mounted work volume on a cluster; empty for none.
        input_col: Input column(s) of dataset_path, comma-separated.
        output_col: Output column of dataset_path.
        seed: Seed for shuffling and splitting.

    Returns:
        Seconds the stage took.
    """
    from pathlib import Path

    from components.runtime import labelled_data, run_profile, run_timed
    from p2m_lib.stages import process_stage

    _, seconds = run_timed(
        process_stage,
        Path(task.path),
        Path(generated.path),
        Path(data.path),
        student or None,
        run_profile(profile),
        labelled_data(dataset_path, input_col, output_col),
        seed,
    )
    return seconds
