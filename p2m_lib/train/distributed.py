"""Data-parallel training over several processes: the same `train` in each, started by torchrun.

torchrun (`torch.distributed.run`) starts `python -m p2m_lib.train` once per process with RANK,
LOCAL_RANK and WORLD_SIZE in its environment; transformers' Trainer, through accelerate, then
joins the process group (gloo on CPU, NCCL on GPUs) and wraps the model in
DistributedDataParallel. Every process reads the same splits and takes its own share of each
batch; gradients are averaged after every step, so all processes hold the same weights.

- The effective batch stays the profile's: each process takes `batch_size / processes` rows per
  step, so a step still consumes `batch_size` rows and the number of steps does not change
  (`device_batch_size`).
- Only rank 0 writes: checkpoints (the Trainer saves on the main process, and every rank's
  random state is gathered to it), the model folder, its card and the training record.
- Locally `launch` runs torchrun as a subprocess on CPU (`p2m run --nproc N`); on a cluster a
  Kubeflow Trainer TrainJob runs the same command on every node (`p2m_lib.train.trainjob`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from p2m_lib.config import TrainConfig
from p2m_lib.errors import P2MError

# The module torchrun starts in every process: `p2m_lib/train/__main__.py`.
WORKER_MODULE = "p2m_lib.train"
# How a worker's traceback ends when it raised a user error.
_USER_ERROR = re.compile(r"P2MError: (.+)$")


def world_size() -> int:
    """How many processes train together (WORLD_SIZE, set by torchrun); 1 outside torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process writes the run's files: rank 0, or the only process."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def local_main_first() -> Iterator[None]:
    """Run the block in each machine's first process, then (after a barrier) in its other processes."""
    if world_size() == 1:
        yield
        return
    from accelerate import PartialState

    with PartialState().local_main_process_first():
        yield


def device_batch_size(batch_size: int, processes: int) -> int:
    """Rows each process takes per optimizer step, so that a step still holds `batch_size` rows.

    Gradient accumulation cannot help when `processes` does not divide `batch_size`: every
    step would then hold a multiple of `processes` rows, never exactly `batch_size`.

    Raises:
        P2MError: If `processes` does not divide `batch_size`.
    """
    if batch_size % processes:
        divisors = [str(n) for n in range(1, batch_size + 1) if batch_size % n == 0]
        raise P2MError(
            f"a batch of {batch_size} rows cannot be split evenly over {processes} processes: "
            f"train with {', '.join(divisors)} processes, or set the training batch_size to a multiple of "
            f"{processes}"
        )
    return batch_size // processes


@dataclass(frozen=True)
class TrainRequest:
    """One training run's inputs and outputs: `p2m_lib.stages.train_stage`'s arguments, as a
    command line that every process of a distributed run receives.

    Attributes:
        task_path: The parsed task (task.json).
        data_dir: The process step's splits.
        student: The student's folder, embedded name or hub name; None for the default.
        config: Training settings, the batch size being the effective one over all processes.
        model_dir: Where rank 0 writes the model folder.
        checkpoints_dir: Where rank 0 checkpoints, and every process resumes from.
    """

    task_path: Path
    data_dir: Path
    student: str | None
    config: TrainConfig
    model_dir: Path
    checkpoints_dir: Path

    def worker_command(self) -> list[str]:
        """What follows `torchrun` (or `python`) to train this request: the worker module and its options."""
        options = {
            "--task": str(self.task_path),
            "--data": str(self.data_dir),
            "--model": str(self.model_dir),
            "--checkpoints": str(self.checkpoints_dir),
            "--training": json.dumps(dataclasses.asdict(self.config), sort_keys=True),
            **({"--student": self.student} if self.student else {}),
        }
        return ["-m", WORKER_MODULE, *(item for pair in options.items() for item in pair)]

    @classmethod
    def from_arguments(cls, arguments: list[str]) -> TrainRequest:
        """The request `worker_command` wrote (its options, without `-m MODULE`)."""
        parser = argparse.ArgumentParser(prog=f"python -m {WORKER_MODULE}", description="Train a student.")
        for option in ("--task", "--data", "--model", "--checkpoints", "--training"):
            parser.add_argument(option, required=True)
        parser.add_argument("--student", default=None)
        parsed = parser.parse_args(arguments)
        return cls(
            task_path=Path(parsed.task),
            data_dir=Path(parsed.data),
            student=parsed.student,
            config=TrainConfig(**json.loads(parsed.training)),
            model_dir=Path(parsed.model),
            checkpoints_dir=Path(parsed.checkpoints),
        )


def local_command(request: TrainRequest, processes: int) -> list[str]:
    """torchrun on this machine: `processes` workers, a free rendezvous port (`--standalone`)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        *request.worker_command(),
    ]


def launch(request: TrainRequest, processes: int) -> None:
    """Train `request` with `processes` CPU processes (gloo) on this machine; returns when all end.

    GPUs are hidden from the workers: on one machine this is the distributed path's check, and a
    GPU is trained on by one process, in the train step's own pod, or by a TrainJob. The workers'
    output goes to this process's output (progress lines, logs).

    Raises:
        P2MError: With a worker's own error message when one raised a P2MError, else with torchrun's
            exit status.
    """
    device_batch_size(request.config.batch_size, processes)  # refuse before any process starts
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    errors: list[str] = []
    with subprocess.Popen(
        local_command(request, processes), env=environment, stderr=subprocess.PIPE, text=True
    ) as workers:
        assert workers.stderr is not None
        for line in workers.stderr:
            sys.stderr.write(line)
            if found := _USER_ERROR.search(line.rstrip()):
                errors.append(found.group(1))
    if workers.returncode == 0:
        return
    if errors:
        raise P2MError(errors[-1])
    raise P2MError(
        f"distributed training over {processes} processes failed "
        f"(torchrun exit status {workers.returncode}); its output is above"
    )
