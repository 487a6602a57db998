"""Parse: the prompt as a task (instruction, demonstrations, English instruction for retrieval)."""

from kfp.dsl import Dataset, Output

from components.images import p2m_component


@p2m_component()
def parse(
    prompt: str,
    task: Output[Dataset],
    teacher: str = "auto",
    teacher_base_url: str = "",
    teacher_model: str = "",
) -> float:
    """Split the user's prompt into its instruction and demonstrations.

    A capable teacher parses with validated JSON and retries; otherwise (and as a fallback) a
    deterministic parser reads the common layouts.

    Args:
        prompt: The user's prompt: an instruction, then optional demonstrations.
        task: The parsed task, task.json: instruction, examples, prompt, retrieval_instruction.
        teacher: auto, local, openai, an embedded model or a folder; used when teacher_base_url is empty.
        teacher_base_url: An OpenAI-compatible endpoint; its key comes from OPENAI_API_KEY.
        teacher_model: The teacher model's name on that endpoint.

    Returns:
        Seconds the stage took.
    """
    from pathlib import Path

    from components.runtime import component_teacher, run_timed
    from p2m_lib.stages import parse_stage

    teacher_llm = component_teacher(teacher, teacher_base_url, teacher_model)
    _, seconds = run_timed(parse_stage, prompt, Path(task.path), teacher_llm)
    return seconds
