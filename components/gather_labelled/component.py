"""Gather labelled data: the user's labelled file and the best usable retrieved dataset, as examples."""

from kfp.dsl import Dataset, Input, Output

from components.images import p2m_component


@p2m_component()
def gather_labelled(
    task: Input[Dataset],
    labelled: Output[Dataset],
    candidates: str = "[]",
    dataset_path: str = "",
    input_col: str = "input",
    output_col: str = "output",
    retrieved_dataset: str = "",
    retrieved_columns: str = "",
    teacher: str = "auto",
    teacher_base_url: str = "",
    teacher_model: str = "",
) -> float:
    """Read the human-labelled examples the student trains on beside the generated ones.

    Retrieved candidates are tried best first: the first that loads (from the Hub, or its
    cache) and has usable input and output columns gives at most 3,000 examples; one that fails
    is skipped with a warning naming it.

    Args:
        task: The parsed task (task.json).
        labelled: Folder: examples.jsonl (input, output, origin) and stats.json (counts, and the
            retrieved dataset used with its configuration and columns).
        candidates: Ranked datasets from retrieve_datasets, a JSON list; empty without a dataset index.
        dataset_path: A labelled file the task can read (JSONL, CSV, Parquet, a save_to_disk
            folder): a local path, or a path on the mounted work volume on a cluster; empty for none.
        input_col: Input column(s) of dataset_path, comma-separated.
        output_col: Output column of dataset_path.
        retrieved_dataset: NAME or NAME:CONFIG of a Hub dataset (or a path the task can read) to
            use instead of the best usable candidate, with or without candidates; empty to choose.
        retrieved_columns: IN[,IN...]->OUT: the retrieved dataset's columns; empty to take them from
            the catalog's mapping, the teacher or conventional names.
        teacher: auto, local, openai, an embedded model or a folder; only a capable (remote) one
            chooses columns.
        teacher_base_url: An OpenAI-compatible endpoint; its key comes from OPENAI_API_KEY.
        teacher_model: The teacher model's name on that endpoint.

    Returns:
        Seconds the stage took.
    """
    import json
    from pathlib import Path

    from components.runtime import component_teacher, labelled_data, run_timed
    from p2m_lib.index.catalog import entry_from_row
    from p2m_lib.stages import labelled_stage

    _, seconds = run_timed(
        labelled_stage,
        Path(task.path),
        Path(labelled.path),
        labelled_data(dataset_path, input_col, output_col),
        [entry_from_row(row) for row in json.loads(candidates)],
        component_teacher(teacher, teacher_base_url, teacher_model),
        retrieved_dataset,
        retrieved_columns,
    )
    return seconds
