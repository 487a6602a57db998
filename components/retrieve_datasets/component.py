"""Retrieve datasets: the datasets of the index most likely to hold training data for the task."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Output

from components.images import p2m_component


@p2m_component()
def retrieve_datasets(
    task: Input[Dataset],
    index: Input[Artifact],
    candidates: Output[Dataset],
    table: Output[Markdown],
    top_k: int = 25,
    teacher: str = "auto",
    teacher_base_url: str = "",
    teacher_model: str = "",
) -> str:
    """Rank the indexed datasets for the task: dense and BM25 candidates fused, reranked by a capable teacher.

    The paper then lets the user pick a dataset and its columns; the ranked list is what the
    KFP UI shows for that choice.

    Args:
        task: The parsed task (task.json); searched with its English instruction.
        index: A dataset index built by the index pipeline.
        candidates: The ranked datasets as JSON: name, score, description, and the catalog's
            configs and column mapping when it has them.
        table: The same list as a Markdown table.
        top_k: How many datasets to list.
        teacher: auto, local, openai, an embedded model or a folder; only a capable (remote) one reranks.
        teacher_base_url: An OpenAI-compatible endpoint; its key comes from OPENAI_API_KEY.
        teacher_model: The teacher model's name on that endpoint.

    Returns:
        The ranked datasets as a JSON list for gather_labelled, descriptions shortened: a
        parameter, because KFP's local runner cannot pass an artifact out of a dsl.If branch.
    """
    from pathlib import Path

    from components.runtime import candidates_parameter, component_teacher, retrieval_prompt, write_listing
    from p2m_lib import retrieve
    from p2m_lib.index import load_dataset_index

    hits = retrieve.retrieve_datasets(
        load_dataset_index(Path(index.path)),
        retrieval_prompt(task.path),
        top_k,
        component_teacher(teacher, teacher_base_url, teacher_model),
    )
    rows = [hit.to_candidate() for hit in hits]
    write_listing(rows, ("name", "score", "description"), candidates.path, table.path)
    return candidates_parameter(rows)
