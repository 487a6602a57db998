"""Retrieve model: the student for the task, from the model index (HyDE, BM25, size limit, popularity)."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Output

from components.images import p2m_component


@p2m_component()
def retrieve_model(
    task: Input[Dataset],
    index: Input[Artifact],
    candidates: Output[Dataset],
    table: Output[Markdown],
    student: str = "",
    max_size_bytes: int = 3000000000,
    top_k: int = 5,
    teacher: str = "auto",
    teacher_base_url: str = "",
    teacher_model: str = "",
) -> str:
    """Rank student models for the task and choose one: the user's if given, else the best ranked.

    Args:
        task: The parsed task (task.json); searched with its English instruction.
        index: A model index built by the index pipeline.
        candidates: The ranked models as JSON: name, score, size_bytes, downloads.
        table: The same list as a Markdown table.
        student: The user's choice; when set it is kept and the ranking is only listed.
        max_size_bytes: The largest model weights allowed.
        top_k: How many ranked models to list.
        teacher: auto, local, openai, an embedded model or a folder; only a capable (remote) one writes the
            hypothetical model card (HyDE).
        teacher_base_url: An OpenAI-compatible endpoint; its key comes from OPENAI_API_KEY.
        teacher_model: The teacher model's name on that endpoint.

    Returns:
        The student to train: a hub name, or empty for the embedded SmolLM2.
    """
    from pathlib import Path

    from components.runtime import component_teacher, retrieval_prompt, write_listing
    from p2m_lib import retrieve
    from p2m_lib.errors import P2MError
    from p2m_lib.index import load_model_index
    from p2m_lib.index.model_index import EMBEDDED_STUDENT

    hits = retrieve.retrieve_models(
        load_model_index(Path(index.path)),
        retrieval_prompt(task.path),
        top_k,
        max_size_bytes,
        component_teacher(teacher, teacher_base_url, teacher_model),
    )
    write_listing(
        [hit.to_dict() for hit in hits],
        ("name", "score", "size_bytes", "downloads"),
        candidates.path,
        table.path,
    )
    if student:
        return student
    if not hits:
        raise P2MError(
            f"no model of the index fits max_size_bytes={max_size_bytes}; raise it or name a student"
        )
    return "" if hits[0].name == EMBEDDED_STUDENT.name else hits[0].name
