"""A training process as torchrun starts it (`python -m p2m_lib.train ...`), with two test conditions.

Usage: `python tests/train/ddp_worker.py [--kill-rank-0-after-step N] WORKER_OPTIONS...`

- Every rank but 0 may not write a byte to any file (RLIMIT_FSIZE 0: the kernel stops a process
  that writes one with SIGXFSZ), so a training run that succeeds under it proves that only rank 0
  writes. It says so on stderr, for the test to see that the limit was in force.
- `--kill-rank-0-after-step N`: rank 0 kills itself (SIGKILL, as a lost node would end) when step
  N has ended, an interruption in the middle of a run.
"""

import os
import resource
import runpy
import signal
import sys

from transformers import TrainerCallback

WORKER_MODULE = "p2m_lib.train"
WRITE_LIMIT_NOTICE = "no file writes allowed in rank"


class KillAfterStep(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def _kill_rank_0_after(step: int) -> None:
    import p2m_lib.train.trainer as trainer_module

    make_trainer = trainer_module.validating_trainer

    def with_kill(**kwargs):
        trainer = make_trainer(**kwargs)
        trainer.add_callback(KillAfterStep(step))
        return trainer

    trainer_module.validating_trainer = with_kill


def main(arguments: list[str]) -> None:
    rank = os.environ["RANK"]
    if arguments[0] == "--kill-rank-0-after-step":
        if rank == "0":
            _kill_rank_0_after(int(arguments[1]))
        arguments = arguments[2:]
    if rank != "0":
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        # Killed at the first byte, even where a library would catch the error a write raises.
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        print(f"{WRITE_LIMIT_NOTICE} {rank}", file=sys.stderr, flush=True)
    sys.argv = [WORKER_MODULE, *arguments]
    runpy.run_module(WORKER_MODULE, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
