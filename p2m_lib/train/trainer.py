"""Fine-tune the student on the textualised splits with the Hugging Face Trainer.

The run checkpoints into its own folder every few steps and a rerun into the same folder
resumes from the newest complete checkpoint (model, optimizer, scheduler, RNG and data order),
so an interrupted training continues where it stopped. The folder must belong to this task:
checkpoints of another model or data set are not detected. The finished model is saved as a
plain Hugging Face folder (LoRA adapters merged), with its tokenizer, prompt template, greedy
generation settings and a model card.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.config import TrainConfig
from p2m_lib.errors import P2MError
from p2m_lib.process.template import DECODER_ONLY, TaskTemplate
from p2m_lib.progress import progress_bar
from p2m_lib.train.card import write_model_card
from p2m_lib.train.encoding import encode_example, make_collator
from p2m_lib.train.student import model_kind, quiet_transformers, student_name
from p2m_lib.types import TrainResult

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

# Validation loss is computed on at most this many rows each epoch, to keep it cheap on a CPU.
MAX_EVAL_ROWS = 64
SAVE_TOTAL_LIMIT = 2
LORA_RANK = 8
LORA_ALPHA = 16
LORA_DROPOUT = 0.05
# Attention and MLP projections by model family; other families get peft's "all-linear".
LORA_TARGETS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "t5": ["q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"],
    "mt5": ["q", "k", "v", "o", "wi_0", "wi_1", "wo"],
}


def train(
    train_rows: Sequence[Mapping[str, str]],
    val_rows: Sequence[Mapping[str, str]],
    student: Path | str,
    template: TaskTemplate,
    config: TrainConfig,
    out_dir: Path,
    checkpoints_dir: Path,
    save_steps: int = 0,
) -> TrainResult:
    """Fine-tune `student` and save the result as a model folder.

    Args:
        train_rows: Rows with "input" and "output" (as `read_split` returns them).
        val_rows: Rows for the validation loss after each epoch (the first 64 are used; may be empty).
        student: A model folder or hub name, as `resolve_student` returns it.
        template: The prompt template; its kind is set from the student's config if it differs.
        config: Hyper-parameters. Steps = epochs x ceil(rows / batch size), capped by
            `max_steps` when it is above 0.
        out_dir: Where the trained model folder is written (created if missing).
        checkpoints_dir: Where checkpoints go. The newest complete one is resumed from; one
            at or past the planned steps is loaded as the result without training further.
        save_steps: Checkpoint every this many steps; 0 chooses about four checkpoints per
            run, at least 5 steps apart. The last step is always checkpointed.

    Returns:
        The model folder, sizes, steps (the global step, counting resumed ones) and loss history.

    Raises:
        P2MError: If `train_rows` is empty.
    """
    if not train_rows:
        raise P2MError("no training rows: generate or retrieve some examples first")
    from transformers import set_seed

    # Seed before loading so that LoRA's initialisation and dropout are reproducible.
    set_seed(config.seed)
    tokenizer, model = _load_student(student)
    template = replace(template, kind=model_kind(model.config))
    parameters = _count_parameters(model)
    if config.lora:
        model = _with_lora(model, template)
    trainable = _count_parameters(model, trainable_only=True)

    train_data = [_encode(tokenizer, template, row, config.max_length) for row in train_rows]
    val_data = [_encode(tokenizer, template, row, config.max_length) for row in val_rows[:MAX_EVAL_ROWS]]
    total_steps = planned_steps(len(train_data), config)
    trainer = _make_trainer(
        model, tokenizer, train_data, val_data, config, checkpoints_dir, total_steps, save_steps
    )
    resume_from = last_complete_checkpoint(checkpoints_dir)
    _run(trainer, resume_from, total_steps)

    result = TrainResult(
        model_dir=str(out_dir),
        model_name=student_name(student),
        parameters=parameters,
        trainable_parameters=trainable,
        steps=trainer.state.global_step,
        loss_history=tuple(_loss_history(trainer.state.log_history)),
        resumed_from=str(resume_from) if resume_from else None,
    )
    max_new_tokens = _max_new_tokens(train_data, config.max_length)
    _save(trainer.model, tokenizer, template, config.max_length, max_new_tokens, Path(out_dir))
    write_model_card(
        Path(out_dir),
        result,
        template,
        config,
        row_counts={"train": len(train_data), "validation": len(val_data)},
        final_losses=_final_losses(trainer.state.log_history),
    )
    return result


def planned_steps(train_size: int, config: TrainConfig) -> int:
    """Optimizer steps: every epoch over `train_size` rows, capped by `config.max_steps` if set."""
    steps = config.epochs * math.ceil(train_size / config.batch_size)
    return min(steps, config.max_steps) if config.max_steps > 0 else steps


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
    return max(complete, key=_checkpoint_step, default=None)


def _load_student(student: Path | str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    with quiet_transformers():
        config = AutoConfig.from_pretrained(student, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(student, trust_remote_code=False)
        model_class = AutoModelForSeq2SeqLM if model_kind(config) != DECODER_ONLY else AutoModelForCausalLM
        model = model_class.from_pretrained(student, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Training pads on the right (the predictor pads decoder-only prompts on the left).
    tokenizer.padding_side = "right"
    return tokenizer, model


def _with_lora(model: PreTrainedModel, template: TaskTemplate) -> PreTrainedModel:
    from peft import LoraConfig, TaskType, get_peft_model

    task_type = TaskType.CAUSAL_LM if template.kind == DECODER_ONLY else TaskType.SEQ_2_SEQ_LM
    lora = LoraConfig(
        task_type=task_type,
        r=LORA_RANK,
        lora_alpha=LORA_ALPHA,
        lora_dropout=LORA_DROPOUT,
        target_modules=LORA_TARGETS.get(model.config.model_type, "all-linear"),
    )
    return get_peft_model(model, lora)


def _count_parameters(model: Any, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _encode(
    tokenizer: PreTrainedTokenizerBase, template: TaskTemplate, row: Mapping[str, str], max_length: int
) -> dict[str, list[int]]:
    return encode_example(tokenizer, template, row["input"], row["output"], max_length)


def _make_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_data: list[dict[str, list[int]]],
    val_data: list[dict[str, list[int]]],
    config: TrainConfig,
    checkpoints_dir: Path,
    total_steps: int,
    save_steps: int,
) -> Trainer:
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(checkpoints_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=total_steps,
        logging_strategy="steps",
        # About 20 loss points per run, whatever its length.
        logging_steps=max(1, total_steps // 20),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=save_steps or max(5, math.ceil(total_steps / 4)),
        save_total_limit=SAVE_TOTAL_LIMIT,
        eval_strategy="epoch" if val_data else "no",
        prediction_loss_only=True,
        label_names=["labels"],
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=make_collator(tokenizer),
        train_dataset=train_data,
        eval_dataset=val_data or None,
        processing_class=tokenizer,
    )
    # With tqdm disabled the Trainer prints every log dict to stdout; p2m's bar shows them instead.
    trainer.remove_callback(PrinterCallback)
    return trainer


def _run(trainer: Trainer, resume_from: Path | None, total_steps: int) -> None:
    from p2m_lib.train.progress_callback import RichProgressCallback

    if resume_from and _checkpoint_step(resume_from) >= total_steps:
        _restore_finished(trainer, resume_from)
        return
    with progress_bar("Training", total=total_steps) as bar, quiet_transformers():
        trainer.add_callback(RichProgressCallback(bar))
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)


def _checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.removeprefix("checkpoint-"))


def _restore_finished(trainer: Trainer, checkpoint: Path) -> None:
    """Load the weights and state of a run that already reached its last step.

    `Trainer.train` resumed from such a checkpoint would take one more step before it noticed.
    """
    from transformers import TrainerState

    # Private, but the one loader that handles full models and LoRA adapters alike (pinned version).
    trainer._load_from_checkpoint(str(checkpoint))
    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))


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


def _max_new_tokens(train_data: list[dict[str, list[int]]], max_length: int) -> int:
    """Twice the longest training target (at least 16, at most `max_length`) tokens.

    Room for answers somewhat longer than any seen in training, while a model that never
    stops still stops soon.
    """
    longest = max(sum(label >= 0 for label in row["labels"]) for row in train_data)
    return min(max_length, max(16, 2 * longest))


def _save(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    template: TaskTemplate,
    max_length: int,
    max_new_tokens: int,
    out_dir: Path,
) -> None:
    from transformers import GenerationConfig

    # LoRA adapters are folded into the base weights so the folder is a plain model.
    plain = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    plain.generation_config = GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        bos_token_id=plain.generation_config.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=plain.generation_config.decoder_start_token_id,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        plain.save_pretrained(out_dir)
    # The predictor cuts prompts longer than the training length to `model_max_length`.
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(out_dir)
    template.save(out_dir)
