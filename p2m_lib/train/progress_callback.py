"""A Trainer callback that drives p2m's rich progress bar instead of tqdm or a log printer."""

from __future__ import annotations

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
