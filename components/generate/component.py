"""Generate: training examples from the teacher, with the paper's four strategies; resumable."""

from kfp.dsl import Dataset, Input, Metrics, Output

from components.images import p2m_component


@p2m_component()
def generate(
    task: Input[Dataset],
    generated: Output[Dataset],
    metrics: Output[Metrics],
    profile: str = "quick",
    num_examples: int = 0,
    generation: dict = {},  # noqa: B006 (KFP reads the default from the signature; it is never mutated)
    seed: int = 42,
    work_dir: str = "",
    teacher: str = "auto",
    teacher_base_url: str = "",
    teacher_model: str = "",
) -> float:
    """Generate examples for the task with the teacher.

    Few-shot diversity, temperature annealing, self-consistency and batched requests, bounded by
    the profile's request limit. Every reply is appended to disk as it arrives, so a rerun with
    the same work_dir continues without repeating paid requests.

    Args:
        task: The parsed task (task.json).
        generated: Folder: raw.jsonl (every teacher reply), examples.jsonl, stats.json, and
            judged.jsonl when the judge ran.
        metrics: Examples generated, teacher requests, rejected candidates, the samples'
            agreement with the kept answers and, with the judge, pairs kept and dropped.
        profile: quick or standard: the generation budget.
        num_examples: Examples to generate; 0 keeps the profile's.
        generation: GenerationConfig fields to change, e.g. {"max_requests": 500, "max_cost": 2.5}.
        seed: Seed for sampling demonstrations.
        work_dir: Folder for resumable state (locally the run folder, on a cluster a mounted
            volume); empty: a temporary folder, nothing survives the task.
        teacher: auto, local, openai, an embedded model's name or a model folder; used when
            teacher_base_url is empty.
        teacher_base_url: An OpenAI-compatible endpoint; its key comes from OPENAI_API_KEY.
        teacher_model: The teacher model's name on that endpoint.

    Returns:
        Seconds the stage took.
    """
    from pathlib import Path

    from components.runtime import component_teacher, publish, run_profile, run_timed, work_folder
    from p2m_lib.stages import generate_stage, generation_metrics

    teacher_llm = component_teacher(teacher, teacher_base_url, teacher_model)
    config = run_profile(profile, num_examples, generation).generation
    with work_folder(work_dir, "generated") as state:
        stats, seconds = run_timed(generate_stage, Path(task.path), state, teacher_llm, config, seed)
        publish(state, generated.path)
    for name, value in generation_metrics(stats).items():
        metrics.log_metric(name, value)
    return seconds
