"""What training leaves on disk: checkpoints to resume from (or to reload, when their run had
ended) and the finished model folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.process.template import TaskTemplate
from p2m_lib.progress import quiet_transformers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, Trainer


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The highest-step `checkpoint-N` folder whose trainer state was written.

    The Trainer writes `trainer_state.json` last, so a checkpoint cut off while saving has none
    and is skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    complete = [
        path
        for path in folder.glob("checkpoint-*")
        if path.name.removeprefix("checkpoint-").isdigit() and (path / "trainer_state.json").is_file()
    ]
    return max(complete, key=checkpoint_step, default=None)


def checkpoint_step(checkpoint: Path) -> int:
    """The step a `checkpoint-N` folder was saved at."""
    return int(checkpoint.name.removeprefix("checkpoint-"))


def run_had_ended(checkpoint: Path, total_steps: int) -> bool:
    """Whether the run that wrote `checkpoint` had ended there: at its last step, or stopped.

    The Trainer saves its control flags with each checkpoint: `should_training_stop` set at a
    step before the run's own last one means early stopping or the time budget ended it, and a
    rerun keeps that model rather than train on. A run that reached its own last step is
    continued when the plan now has more steps.
    """
    if checkpoint_step(checkpoint) >= total_steps:
        return True
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    control = state.get("stateful_callbacks", {}).get("TrainerControl", {})
    stopped = bool(control.get("args", {}).get("should_training_stop"))
    return stopped and checkpoint_step(checkpoint) < int(state.get("max_steps") or 0)


def restore_ended_run(trainer: Trainer, checkpoint: Path) -> None:
    """Load the state of a run that already ended, and the weights it kept (its best checkpoint).

    `Trainer.train` resumed from such a checkpoint would take one more step before it noticed.
    """
    from transformers import TrainerState

    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    best = trainer.state.best_model_checkpoint
    kept = Path(best) if best and Path(best).is_dir() else checkpoint
    # Private, but the one loader that handles full models and LoRA adapters alike (pinned version).
    trainer._load_from_checkpoint(str(kept))


def save_model(model: Any, tokenizer: PreTrainedTokenizerBase, template: TaskTemplate, out_dir: Path) -> None:
    """Save the trained model as a plain Hugging Face folder, with its tokenizer and prompt template."""
    # LoRA adapters are folded into the base weights so the folder is a plain model.
    plain = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        # The generation config set before training (and used for validation) is saved with it.
        plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    template.save(out_dir)
