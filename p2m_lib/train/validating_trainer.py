"""The Trainer that validates as evaluation scores: greedy answers' exact match beside the loss,
the checkpoint kept and early stopping decided by `selection`, the loss of decoder-only
batches computed from the target positions' logits alone (`target_loss`), and batches of rows
of similar length (`length_grouped_order`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from p2m_lib.process.template import DECODER_ONLY, TaskTemplate
from p2m_lib.train.encoding import IGNORE_INDEX
from p2m_lib.train.likelihood import target_token_losses
from p2m_lib.train.predict import StudentPredictor
from p2m_lib.train.selection import (
    is_kept,
    validation_history,
    validations_without_progress,
)

if TYPE_CHECKING:
    from transformers import Trainer


def validating_trainer(**kwargs: Any) -> Trainer:
    """A `ValidatingTrainer`; the class is built on first use, as transformers is slow to import."""
    return _validating_trainer_class()(**kwargs)


def _validating_trainer_class() -> type:
    from transformers import Trainer

    class ValidatingTrainer(Trainer):
        """A Trainer whose evaluation adds the exact match of greedy answers to the validation loss.

        The answers come from `StudentPredictor` around the model being trained, with the
        generation config the saved model will have, so validation scores what evaluation and
        serving will see.
        """

        def __init__(
            self,
            *args: Any,
            val_rows: Sequence[Mapping[str, str]],
            template: TaskTemplate,
            patience: int,
            min_steps: int = 0,
            **kwargs: Any,
        ):
            super().__init__(*args, **kwargs)
            self.val_rows = list(val_rows)
            self.template = template
            self.patience = patience
            self.min_steps = min_steps

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            """`target_loss` for decoder-only batches padded on the left; the Trainer's loss otherwise."""
            if self.template.kind != DECODER_ONLY or "position_ids" not in inputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            loss, outputs = target_loss(model, inputs, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # `num_items_in_batch` counts every process's targets and DDP averages the gradients
                # over processes: scaled so, the step is the one a single process would take (as the
                # Trainer's own `compute_loss` does).
                loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            """Rows of similar length batched together (`length_grouped_order`), whatever the
            arguments' `train_sampling_strategy`."""
            dataset = self.train_dataset if train_dataset is None else train_dataset
            batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            lengths = [len(row["input_ids"]) for row in dataset]
            # The epoch under way (a resumed run's state holds it); an epoch's last step sets it to
            # the next whole number, exactly.
            return length_grouped_order(lengths, batch, seed, lambda: int(self.state.epoch or 0))

        def _issue_warnings_after_load(self, load_result: Any) -> None:
            """The Trainer's warnings, less the output layer tied to the embeddings.

            Checkpoints do not store a tied layer (SmolLM2's lm_head): loading the embeddings
            restores it, yet the Trainer warns that it is missing when it loads the best one.
            """
            tied = getattr(self.model, "all_tied_weights_keys", None) or {}
            missing = [key for key in load_result.missing_keys if key not in tied]
            super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

        def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
            output = super().evaluation_loop(*args, **kwargs)
            prefix = kwargs.get("metric_key_prefix", "eval")
            output.metrics[f"{prefix}_exact_match"] = self.validation_exact_match()
            return output

        def _determine_best_metric(self, metrics: dict[str, float], trial: Any) -> bool:
            """Keep this step if `is_kept` says so; stop after `patience` validations without
            progress (`validations_without_progress`), once `min_steps` are done.

            Everything is derived from the logged validations in the Trainer's state, which
            checkpoints carry, so a resumed run decides the same way.
            """
            history = validation_history(self.state.log_history)
            top = max(e for _, e, _ in history)
            exact = metrics["eval_exact_match"]
            new_best = is_kept(exact, top, len(self.val_rows))
            if new_best:
                self.state.best_metric = exact
                self.state.best_global_step = self.state.global_step
            # Not before `min_steps`: a validation split of 20 teacher-labelled rows stopped quick
            # runs at step 60 of the 100 that the dates need (docs/BENCHMARKS.md, Quality).
            enough = self.state.global_step >= self.min_steps
            if enough and self.patience and validations_without_progress(history) >= self.patience:
                self.control.should_training_stop = True
            return new_best

        def validation_exact_match(self) -> float:
            """Exact match over the validation rows; with several processes each answers its share
            and the counts are summed, so every process decides on the same figure."""
            import torch

            from p2m_lib.evaluate.metrics import exact_match

            rank, processes = self.accelerator.process_index, self.accelerator.num_processes
            rows = self.val_rows[rank::processes]
            model = self.accelerator.unwrap_model(self.model)
            predictor = StudentPredictor(model, self.processing_class, self.template)
            was_training = model.training
            model.eval()
            try:
                answers = predictor.predict([row["input"] for row in rows], batch_size=16)
            finally:
                model.train(was_training)
            matches = exact_match(answers, [row["output"] for row in rows]) * len(rows) / 100 if rows else 0.0
            total = self.accelerator.reduce(torch.tensor(matches, device=self.accelerator.device), "sum")
            return round(100.0 * float(total) / len(self.val_rows), 4)

        def _save_rng_state(self, output_dir: str) -> None:
            """Every process's random state, written by rank 0 alone (`rng_state_<rank>.pth`, where
            the Trainer's resume looks for it): the other processes write nothing."""
            if self.args.world_size <= 1:
                super()._save_rng_state(output_dir)
                return
            import os

            import torch
            from accelerate.utils import gather_object

            states = gather_object([self._rng_states()])
            if self.args.should_save:
                os.makedirs(output_dir, exist_ok=True)
                for rank, state in enumerate(states):
                    torch.save(state, os.path.join(output_dir, f"rng_state_{rank}.pth"))

        def _rng_states(self) -> dict[str, Any]:
            """This process's random generators, as `Trainer._load_rng_state` restores them."""
            import random

            import numpy as np
            import torch

            states: dict[str, Any] = {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "cpu": torch.random.get_rng_state(),
            }
            if torch.cuda.is_available():
                states["cuda"] = torch.cuda.random.get_rng_state_all()
            return states

    return ValidatingTrainer


def length_grouped_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: Callable[[], int]) -> Any:
    """A sampler that shuffles the rows, then sorts them by length within groups of up to 50
    batches, so that a batch holds rows of similar length (transformers'
    `get_length_grouped_indices`); each epoch's order depends on `seed` and `epoch()` alone.

    A batch is padded to its longest row, and random batches of SST-2 reviews or German tweets
    were a quarter to a third padding. The Trainer's own length-grouped sampler draws from the
    global random generator, so a resumed run would see other batches than an uninterrupted one;
    and the Trainer's `set_epoch` does not reach a sampler under two processes' batch shards once
    a resumed run skips batches, so the epoch is read when an epoch's order is drawn.
    """
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    class LengthGroupedOrder(torch.utils.data.Sampler):
        def __len__(self) -> int:
            return len(lengths)

        def __iter__(self) -> Any:
            generator = torch.Generator().manual_seed(seed + epoch())
            return iter(get_length_grouped_indices(list(lengths), batch_size, generator=generator))

    return LengthGroupedOrder()


def target_loss(model: Any, inputs: Mapping[str, Any], num_items_in_batch: Any = None) -> tuple[Any, Any]:
    """The mean cross-entropy of the target tokens of a decoder-only batch padded on the left,
    with logits computed only for the targets' positions (`target_token_losses`). The value equals
    the usual shifted loss over the labelled tokens (the output and its EOS);
    `num_items_in_batch`, when the Trainer gives it, is the divisor.

    Returns:
        (loss, model outputs).
    """
    losses, targets, outputs = target_token_losses(model, inputs)
    count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE_INDEX).sum()
    return losses.sum() / count, outputs
