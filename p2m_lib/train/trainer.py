"""Fine-tune the student on the textualised splits with the Hugging Face Trainer.

The recipe (each choice measured in docs/BENCHMARKS.md, Quality):

- full fine-tuning (LoRA on request) with the token embeddings frozen, in bf16 autocast where
  the hardware has it;
- loss on the output tokens (and EOS) only, batches padded to their longest row; decoder-only
  batches are padded on the left and the logits computed for the target positions only
  (`p2m_lib.train.encoding`, `validating_trainer.target_loss`);
- steps from the data size: `epochs` passes, at least `min_steps`, at most `max_steps`
  (`planned_steps`), and a wall-clock `time_budget_s` on top;
- AdamW, linear warm-up over `warmup_ratio` of the steps then linear decay;
- every `eval_every` steps (about five times a run) the model answers the validation split (its
  labelled rows when there are enough, `validation_rows`) with the same greedy decoding as the
  saved model; exact match picks the checkpoint kept, a difference within two standard errors
  (at least one row) counting as a tie that the later step wins (`is_kept`), and `patience`
  validations that improve neither measure stop the run early (`validations_without_progress`),
  never before `min_steps`;
- decoding stops at EOS and, when no training output spans lines, at the end of the line
  (`stop_strings`, saved in the generation config, so serving decodes the same way).

The run checkpoints into its own folder at every validation and a rerun into the same folder
resumes from the newest complete checkpoint (model, optimizer, scheduler, RNG, data order and
the validations so far, from which the best checkpoint and early stopping are decided), so an
interrupted training continues where it stopped; a run that had finished or stopped early is
loaded as it ended. The folder must belong to this task: checkpoints of another model or data
set are not detected. The finished model is saved as a plain Hugging Face folder (LoRA adapters
merged), with its tokenizer, prompt template, greedy generation settings and a model card.

Under torchrun the same function runs in every process (`distributed`): each takes
`batch_size / processes` rows of every step's batch, so steps and the effective batch stay the
plan's, and only rank 0 shows progress and writes checkpoints and the model folder.

This module loads the student and runs the Trainer; the recipe's parts live beside it:
`recipe` (steps, validation rows and interval, decoding settings, precision), `lora`,
`validating_trainer` (validation exact match, the loss on target logits), `selection` (the
checkpoint kept, early stopping), `callbacks` (progress bar, time budget) and `checkpoints`
(resuming, reloading an ended run, saving the model folder).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.config import TrainConfig
from p2m_lib.embedded import embedded_source
from p2m_lib.errors import P2MError
from p2m_lib.hardware import bf16_supported
from p2m_lib.process.template import DECODER_ONLY, TaskTemplate
from p2m_lib.progress import progress_bar, quiet_transformers
from p2m_lib.train.card import write_model_card
from p2m_lib.train.checkpoints import (
    checkpoint_step,
    last_complete_checkpoint,
    restore_ended_run,
    run_had_ended,
    save_model,
)
from p2m_lib.train.distributed import device_batch_size, is_main_process, world_size
from p2m_lib.train.encoding import encode_example, make_collator
from p2m_lib.train.lora import with_lora
from p2m_lib.train.recipe import (
    generation_config,
    max_new_tokens_for,
    planned_steps,
    stop_strings,
    validation_interval,
    validation_rows,
)
from p2m_lib.train.selection import SELECTION_METRIC, validation_history
from p2m_lib.train.student import model_kind, student_name
from p2m_lib.train.validating_trainer import validating_trainer
from p2m_lib.types import TrainResult

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

    from p2m_lib.train.callbacks import TimeBudget

# Why a run ended, as `TrainResult.stopped_by` says.
STOPPED_AT_LAST_STEP, STOPPED_EARLY, STOPPED_BY_BUDGET = "last step", "early stopping", "time budget"
SAVE_TOTAL_LIMIT = 2


def train(
    train_rows: Sequence[Mapping[str, str]],
    val_rows: Sequence[Mapping[str, str]],
    student: Path | str,
    template: TaskTemplate,
    config: TrainConfig,
    out_dir: Path,
    checkpoints_dir: Path,
    save_steps: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> TrainResult:
    """Fine-tune `student` and save the result as a model folder.

    Args:
        train_rows: Rows with "input" and "output" (as `read_split` returns them).
        val_rows: Rows to validate on (see `validation_rows`; may be empty, in which case the
            last step's model is kept and nothing stops early).
        student: A model folder or hub name, as `resolve_student` returns it.
        template: The prompt template; its kind is set from the student's config if it differs.
        config: Hyper-parameters; `planned_steps` gives the number of steps.
        out_dir: Where the trained model folder is written (created if missing).
        checkpoints_dir: Where checkpoints go. The newest complete one is resumed from; one
            at or past the planned steps, or of a run that stopped early, is loaded as the
            result without training further.
        save_steps: Validate and checkpoint every this many steps; 0 uses `config.eval_every`,
            else about five times a run. The last step is always checkpointed.
        clock: Seconds, for `config.time_budget_s` (tests pass a fake one).

    Returns:
        The model folder, sizes, steps (the global step, counting resumed ones), loss history,
        validation history, the step of the model kept and why training stopped.

    Raises:
        P2MError: If `train_rows` is empty.
    """
    if not train_rows:
        raise P2MError("no training rows: generate or retrieve some examples first")
    from transformers import set_seed

    from p2m_lib.train.callbacks import TimeBudget

    # Seed before loading so that LoRA's initialisation and dropout are reproducible.
    set_seed(config.seed)
    tokenizer, model = _load_student(student, config.max_length)
    template = replace(template, kind=model_kind(model.config))
    parameters = _count_parameters(model)

    train_data = [_encode(tokenizer, template, row, config.max_length) for row in train_rows]
    val_rows = validation_rows(val_rows)
    val_data = [_encode(tokenizer, template, row, config.max_length) for row in val_rows]
    # Validation decodes exactly as the saved model will: set the generation config first.
    model.generation_config = generation_config(
        model,
        tokenizer,
        max_new_tokens_for(train_data, config.max_length),
        stop_strings([row["output"] for row in train_rows]),
    )
    if config.lora:
        model = with_lora(model, template)
    elif config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    trainable = _count_parameters(model, trainable_only=True)

    total_steps = planned_steps(len(train_data), config)
    interval = save_steps or validation_interval(total_steps, config)
    budget = TimeBudget(config.time_budget_s, clock)
    trainer = _make_trainer(
        model,
        tokenizer,
        template,
        train_data,
        val_data,
        val_rows,
        config,
        checkpoints_dir,
        total_steps,
        interval,
    )
    trainer.add_callback(budget)
    resume_from = last_complete_checkpoint(checkpoints_dir)
    _run(trainer, resume_from, total_steps)

    history = trainer.state.log_history
    result = TrainResult(
        model_dir=str(out_dir),
        model_name=student_name(student),
        parameters=parameters,
        trainable_parameters=trainable,
        steps=trainer.state.global_step,
        loss_history=tuple(_loss_history(history)),
        resumed_from=str(resume_from) if resume_from else None,
        eval_history=tuple(validation_history(history)),
        best_step=checkpoint_step(Path(trainer.state.best_model_checkpoint))
        if trainer.state.best_model_checkpoint
        else trainer.state.global_step,
        stopped_by=_stopped_by(trainer.state.global_step, total_steps, budget),
    )
    if is_main_process():
        save_model(trainer.model, tokenizer, template, Path(out_dir))
        write_model_card(
            Path(out_dir),
            result,
            template,
            config,
            row_counts={"train": len(train_data), "validation": len(val_data)},
            final_losses=_final_losses(history),
            base_source=embedded_source(student) if isinstance(student, Path) else "",
        )
    return result


def _load_student(student: Path | str, max_length: int) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    with quiet_transformers():
        config = AutoConfig.from_pretrained(student, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(student, trust_remote_code=False)
        model_class = AutoModelForSeq2SeqLM if model_kind(config) != DECODER_ONLY else AutoModelForCausalLM
        # Weights stay float32 whatever the folder stores (the embedded Qwen students are saved in
        # bfloat16, and transformers loads a folder in its own dtype): optimizer updates to bf16
        # weights round away; bf16 arithmetic comes from autocast where the hardware has it.
        model = model_class.from_pretrained(student, trust_remote_code=False, dtype=torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Training pads on the right (the predictor pads decoder-only prompts on the left).
    tokenizer.padding_side = "right"
    # The predictor cuts prompts longer than the training length to `model_max_length`.
    tokenizer.model_max_length = max_length
    return tokenizer, model


def _count_parameters(model: Any, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _encode(
    tokenizer: PreTrainedTokenizerBase, template: TaskTemplate, row: Mapping[str, str], max_length: int
) -> dict[str, list[int]]:
    return encode_example(tokenizer, template, row["input"], row["output"], max_length)


def _make_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    template: TaskTemplate,
    train_data: list[dict[str, list[int]]],
    val_data: list[dict[str, list[int]]],
    val_rows: list[Mapping[str, str]],
    config: TrainConfig,
    checkpoints_dir: Path,
    total_steps: int,
    interval: int,
) -> Trainer:
    import torch
    from transformers import PrinterCallback, TrainingArguments

    validate = bool(val_data)
    cuda = torch.cuda.is_available()
    batch_size = device_batch_size(config.batch_size, world_size())
    args = TrainingArguments(
        use_cpu=not cuda,
        bf16=config.bf16 and bf16_supported(),
        output_dir=str(checkpoints_dir),
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        # Every trainable weight takes part in the loss: DDP need not look for unused ones each step.
        ddp_find_unused_parameters=False,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_ratio,  # transformers 5 reads a value below 1 as a share of the steps
        num_train_epochs=config.epochs,
        max_steps=total_steps,
        logging_strategy="steps",
        # About 20 loss points per run, whatever its length.
        logging_steps=max(1, total_steps // 20),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=interval,
        save_total_limit=SAVE_TOTAL_LIMIT,
        eval_strategy="steps" if validate else "no",
        eval_steps=interval if validate else None,
        # The best validated checkpoint is kept (rotation never deletes it) and loaded at the end.
        load_best_model_at_end=validate,
        metric_for_best_model=SELECTION_METRIC if validate else None,
        greater_is_better=True if validate else None,
        prediction_loss_only=True,
        label_names=["labels"],
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=cuda,
    )
    trainer = validating_trainer(
        val_rows=val_rows,
        template=template,
        patience=config.patience,
        min_steps=config.min_steps,
        model=model,
        args=args,
        # Decoder-only rows are padded on the left, so that targets end every row together.
        data_collator=make_collator(tokenizer, "left" if template.kind == DECODER_ONLY else "right"),
        train_dataset=train_data,
        eval_dataset=val_data or None,
        processing_class=tokenizer,
    )
    # With tqdm disabled the Trainer prints every log dict to stdout; p2m's bar shows them instead.
    trainer.remove_callback(PrinterCallback)
    return trainer


def _run(trainer: Trainer, resume_from: Path | None, total_steps: int) -> None:
    from p2m_lib.train.callbacks import RichProgressCallback

    if resume_from and run_had_ended(resume_from, total_steps):
        restore_ended_run(trainer, resume_from)
        return
    resume = str(resume_from) if resume_from else None
    if not is_main_process():  # one progress bar per run, rank 0's
        with quiet_transformers():
            trainer.train(resume_from_checkpoint=resume)
        return
    with progress_bar("Training", total=total_steps) as bar, quiet_transformers():
        trainer.add_callback(RichProgressCallback(bar))
        trainer.train(resume_from_checkpoint=resume)


def _stopped_by(steps: int, total_steps: int, budget: TimeBudget) -> str:
    if budget.fired:
        return STOPPED_BY_BUDGET
    return STOPPED_AT_LAST_STEP if steps >= total_steps else STOPPED_EARLY


def _loss_history(log_history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(step, training loss) of every logged step, those before a resume included."""
    return [(int(entry["step"]), float(entry["loss"])) for entry in log_history if "loss" in entry]


def _final_losses(log_history: list[dict[str, Any]]) -> dict[str, float]:
    losses = {}
    for key, name in (("loss", "training loss"), ("eval_loss", "validation loss")):
        values = [entry[key] for entry in log_history if key in entry]
        if values:
            losses[name] = float(values[-1])
    return losses
