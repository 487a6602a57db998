"""Trainer callbacks: p2m's rich progress bar instead of tqdm or a log printer, and the time budget.

transformers is imported at the top here: import this module only where training starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import Progress
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class RichProgressCallback(TrainerCallback):
    """Shows step / total steps and the latest training (and validation) loss on bar 0 of `bar`."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.status: dict[str, str] = {}

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # A resumed run starts at its checkpoint's step, not at zero.
        self.bar.update(0, total=state.max_steps, completed=state.global_step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.bar.update(0, completed=state.global_step)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        for key, label in (("loss", "loss"), ("eval_loss", "val loss")):
            if logs and key in logs:
                self.status[label] = f"{label} {logs[key]:.4f}"
        self.bar.update(0, status="  ".join(self.status.values()))


class TimeBudget(TrainerCallback):
    """Stops training once `seconds` have passed since training began; `fired` says it did.

    The step at which it stops is validated and checkpointed like a last step, so the best
    model so far is what is kept. `seconds` <= 0 never stops.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.started: float | None = None
        self.fired = False

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.started = self.clock()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.seconds <= 0 or self.started is None or control.should_training_stop:
            return
        if self.clock() - self.started >= self.seconds:
            self.fired = True
            control.should_training_stop = True
            control.should_save = True
            control.should_evaluate = args.eval_strategy != "no"
