"""Train on several GPUs or nodes: a Kubeflow Trainer TrainJob runs the train step's code on each node."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import p2m_component


@p2m_component()
def train_job(
    task: Input[Dataset],
    data: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    trainer_image: str,
    work_volume: str,
    run_id: str,
    student: str = "",
    profile: str = "quick",
    training: dict = {},  # noqa: B006 (KFP reads the default from the signature; it is never mutated)
    work_dir: str = "",
    work_mount: str = "/p2m-work",
    train_nodes: int = 2,
    gpus_per_node: int = 1,
    gpu_type: str = "nvidia.com/gpu",
    gpu_node_selector: dict = {},  # noqa: B006
    gpu_tolerations: list = [],  # noqa: B006
    training_runtime: str = "torch-distributed",
    timeout_s: int = 86400,
) -> float:
    """Fine-tune the student with data-parallel training across GPUs and nodes: the inputs go onto
    the work volume, a TrainJob (Kubeflow Trainer v2) runs torchrun with p2m's training on every
    node, this step logs its status until it ends and copies the model back. Each process takes an
    equal share of every batch, so steps and the effective batch are the profile's.

    Args:
        task: The parsed task (task.json); its instruction goes into every training prompt.
        data: The process step's splits (train.jsonl, val.jsonl).
        model: The trained student: Hugging Face folder, tokenizer, p2m_template.json, model card.
        metrics: Steps, parameter counts, the last training loss, the step kept and its validation
            exact match, listed by the KFP UI.
        trainer_image: The image the TrainJob's pods run (p2m-trainer, as compiled).
        work_volume: The PVC mounted at work_mount here and in every TrainJob pod (ReadWriteMany
            for several nodes), as compiled.
        run_id: The pipeline run's id: the TrainJob is named after it, so a retried step finds it.
        student: The student's folder or hub name; empty for the embedded SmolLM2.
        profile: quick or standard: the training budget.
        training: TrainConfig fields to change, e.g. {"batch_size": 64, "learning_rate": 5e-5}.
        work_dir: The run's folder on the work volume: inputs, checkpoints (a rerun resumes) and
            the model folder the TrainJob writes.
        work_mount: Where the work volume is mounted.
        train_nodes: Training nodes.
        gpus_per_node: GPUs, one training process each, per node; 0: one CPU process per node.
        gpu_type: The accelerator resource each node requests, e.g. nvidia.com/gpu.
        gpu_node_selector: Node labels of the GPU pool, e.g. {"pool": "gpu"}.
        gpu_tolerations: Tolerations for the GPU pool's taints, as Kubernetes objects.
        training_runtime: The ClusterTrainingRuntime the TrainJob refers to.
        timeout_s: Longest wait for the TrainJob; it is deleted past it (its checkpoints stay).

    Returns:
        Seconds the stage took.
    """
    from pathlib import Path

    from components.runtime import log_training, run_profile, run_timed
    from p2m_lib.kube import current_namespace
    from p2m_lib.stages import trainjob_stage
    from p2m_lib.train.trainjob import TrainJobSettings, trainjob_name

    settings = TrainJobSettings(
        name=trainjob_name(run_id),
        namespace=current_namespace(),
        image=trainer_image,
        nodes=train_nodes,
        gpus_per_node=gpus_per_node,
        work_volume=work_volume,
        work_mount=Path(work_mount),
        work_dir=Path(work_dir),
        gpu_resource=gpu_type,
        runtime=training_runtime,
        node_selector=gpu_node_selector,
        tolerations=gpu_tolerations,
    )
    config = run_profile(profile, training=training).train
    record, seconds = run_timed(
        trainjob_stage,
        Path(task.path),
        Path(data.path),
        student or None,
        config,
        Path(model.path),
        settings,
        timeout_s,
    )
    log_training(record, model, metrics)
    return seconds
