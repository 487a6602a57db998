"""The train step's tasks: in the step's own pod on one GPU, or a Kubeflow Trainer TrainJob on more.

`train_nodes` and `gpus_per_node` choose: more than one node, or more than one GPU on a node,
trains with a TrainJob (a `train-job` task, a CPU pod that creates it and waits); else the
`train` task trains in its own pod on the GPU pool (`gpus_per_node` = 0: on CPU, with
`cpu_processes` gloo processes). Either way the step ends in a model and its seconds.
KFP's local runner cannot choose between two branches' artifacts (`dsl.OneOf` of artifacts), so
`p2m run` wires the `train` task alone (`trainjobs=False`).
"""

from dataclasses import dataclass
from typing import Any

from kfp import dsl

from components.images import TRAINER, image
from components.train import train
from components.train_job import train_job
from pipelines.kubernetes import WORK_MOUNT, on_gpu_pool, on_work_volume


@dataclass(frozen=True)
class TrainStep:
    """What later steps take from the train step, whichever task trained.

    Attributes:
        model: The trained model artifact.
        seconds: The seconds training took.
    """

    model: Any
    seconds: Any


def add_train_step(
    inputs: dict[str, Any],
    gpu_pool: dict[str, Any],
    trainjob: dict[str, Any],
    cpu_processes: Any,
    work_volume: str,
    trainjobs: bool,
) -> TrainStep:
    """Add the train step's tasks to the pipeline being defined.

    Args:
        inputs: What every train task takes: task, data, student, profile, training, work_dir.
        gpu_pool: gpu_type, gpu_node_selector, gpu_tolerations, and the counts train_nodes and
            gpus_per_node.
        trainjob: The TrainJob's own settings: training_runtime, timeout_s.
        cpu_processes: CPU processes of the in-pod train task.
        work_volume: The PVC (fixed at compile time) of the checkpoints and of a TrainJob's files.
        trainjobs: Whether more than one GPU or node trains with a TrainJob (a cluster); False
            for the local runner.
    """
    nodes, gpus_per_node = gpu_pool["train_nodes"], gpu_pool["gpus_per_node"]
    if not trainjobs:
        in_pod = _train_in_pod(inputs, gpu_pool, cpu_processes, work_volume)
        return TrainStep(in_pod.outputs["model"], in_pod.outputs["Output"])
    job = {
        **inputs,
        **gpu_pool,
        **trainjob,
        "trainer_image": image(TRAINER),
        "work_volume": work_volume,
        "work_mount": WORK_MOUNT,
        "run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    }
    # A KFP condition compares one parameter with a value: "more than one GPU in all" is "more
    # than one node", or else "more than one GPU on the node".
    with dsl.If(nodes > 1, name="several-training-nodes"):
        on_nodes = _train_with_trainjob(job, work_volume)
    with dsl.Elif(gpus_per_node > 1, name="several-training-gpus"):
        on_gpus = _train_with_trainjob(job, work_volume)
    with dsl.Else(name="one-training-gpu"):
        in_pod = _train_in_pod(inputs, gpu_pool, cpu_processes, work_volume)
    steps = (on_nodes, on_gpus, in_pod)
    return TrainStep(
        dsl.OneOf(*(step.outputs["model"] for step in steps)),
        dsl.OneOf(*(step.outputs["Output"] for step in steps)),
    )


def _train_in_pod(
    inputs: dict[str, Any], gpu_pool: dict[str, Any], cpu_processes: Any, work_volume: str
) -> dsl.PipelineTask:
    task = train(**inputs, processes=cpu_processes)
    on_gpu_pool(
        task,
        gpu_pool["gpu_type"],
        gpu_pool["gpus_per_node"],
        gpu_pool["gpu_node_selector"],
        gpu_pool["gpu_tolerations"],
    )
    on_work_volume(task, work_volume)
    return task


def _train_with_trainjob(job: dict[str, Any], work_volume: str) -> dsl.PipelineTask:
    task = train_job(**job)
    on_work_volume(task, work_volume)
    return task
