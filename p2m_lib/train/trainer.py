"""Fine-tune the student on the textualised splits with the Hugging Face Trainer.

The recipe (each choice measured in docs/BENCHMARKS.md, Quality):

- full fine-tuning (LoRA on request) with the token embeddings frozen, in bf16 autocast where
  the hardware has it;
- loss on the output tokens (and EOS) only, batches padded to their longest row; decoder-only
  batches are padded on the left and the logits computed for the target positions only
  (`p2m_lib.train.encoding`, `target_loss`);
- steps from the data size: `epochs` passes, at least `min_steps`, at most `max_steps`
  (`planned_steps`), and a wall-clock `time_budget_s` on top;
- AdamW, linear warm-up over `warmup_ratio` of the steps then linear decay;
- every `eval_every` steps (about five times a run) the model answers the validation split (its
  labelled rows when there are enough, `validation_rows`) with the same greedy decoding as the
  saved model; exact match picks the checkpoint kept, a difference of one row counting as a tie
  broken by the lower validation loss (`is_better`), and `patience` validations that improve
  neither measure stop the run early (`validations_without_progress`);
- decoding stops at EOS and, when no training output spans lines, at the end of the line
  (`stop_strings`, saved in the generation config, so serving decodes the same way).

The run checkpoints into its own folder at every validation and a rerun into the same folder
resumes from the newest complete checkpoint (model, optimizer, scheduler, RNG, data order and
the validations so far, from which the best checkpoint and early stopping are decided), so an
interrupted training continues where it stopped; a run that had finished or stopped early is
loaded as it ended. The folder must belong to this task: checkpoints of another model or data
set are not detected. The finished model is saved as a plain Hugging Face folder (LoRA adapters
merged), with its tokenizer, prompt template, greedy generation settings and a model card.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2m_lib.config import TrainConfig
from p2m_lib.errors import P2MError
from p2m_lib.hardware import bf16_supported
from p2m_lib.process.template import DECODER_ONLY, TaskTemplate
from p2m_lib.progress import progress_bar, quiet_transformers
from p2m_lib.train.card import write_model_card
from p2m_lib.train.encoding import IGNORE_INDEX, encode_example, make_collator, target_window
from p2m_lib.train.predict import StudentPredictor
from p2m_lib.train.student import model_kind, student_name
from p2m_lib.types import TrainResult

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainerCallback

# Validation (loss and exact match) uses at most this many rows, to keep it cheap on a CPU.
MAX_EVAL_ROWS = 64
# Validate on labelled rows only when the validation split holds at least this many.
MIN_LABELLED_VAL_ROWS = 10
# About this many validations (and checkpoints) per run when `eval_every` is 0.
VALIDATIONS_PER_RUN = 5
# The validation metric that picks the best checkpoint (a key of the Trainer's eval metrics);
# ties within one validation row go to the lower loss (`is_better`).
SELECTION_METRIC = "eval_exact_match"
# Why a run ended, as `TrainResult.stopped_by` says.
STOPPED_AT_LAST_STEP, STOPPED_EARLY, STOPPED_BY_BUDGET = "last step", "early stopping", "time budget"
# A stop string that ends one-line answers; see `stop_strings`.
END_OF_LINE = "\n"
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

    # Seed before loading so that LoRA's initialisation and dropout are reproducible.
    set_seed(config.seed)
    tokenizer, model = _load_student(student, config.max_length)
    template = replace(template, kind=model_kind(model.config))
    parameters = _count_parameters(model)

    train_data = [_encode(tokenizer, template, row, config.max_length) for row in train_rows]
    val_rows = validation_rows(val_rows)
    val_data = [_encode(tokenizer, template, row, config.max_length) for row in val_rows]
    # Validation decodes exactly as the saved model will: set the generation config first.
    model.generation_config = _generation_config(
        model,
        tokenizer,
        _max_new_tokens(train_data, config.max_length),
        stop_strings([row["output"] for row in train_rows]),
    )
    if config.lora:
        model = _with_lora(model, template)
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
    trainer.add_callback(budget.callback())
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
        best_step=_checkpoint_step(Path(trainer.state.best_model_checkpoint))
        if trainer.state.best_model_checkpoint
        else trainer.state.global_step,
        stopped_by=_stopped_by(trainer.state.global_step, total_steps, budget),
    )
    _save(trainer.model, tokenizer, template, Path(out_dir))
    write_model_card(
        Path(out_dir),
        result,
        template,
        config,
        row_counts={"train": len(train_data), "validation": len(val_data)},
        final_losses=_final_losses(history),
    )
    return result


def planned_steps(train_size: int, config: TrainConfig) -> int:
    """Optimizer steps from the data size.

    `epochs` passes over `train_size` rows in batches of `batch_size`, raised to
    `config.min_steps` (a small set needs more passes to be learnt) and then capped by
    `config.max_steps` (a large set need not be seen in full within a small budget); a bound
    of 0 is no bound.
    """
    steps = config.epochs * math.ceil(train_size / config.batch_size)
    steps = max(steps, config.min_steps)
    return min(steps, config.max_steps) if config.max_steps > 0 else steps


def validation_interval(total_steps: int, config: TrainConfig) -> int:
    """Steps between validations: `config.eval_every`, or about five per run (at least 1)."""
    return config.eval_every or max(1, math.ceil(total_steps / VALIDATIONS_PER_RUN))


def stop_strings(outputs: Sequence[str]) -> list[str]:
    """Where decoding stops besides EOS: at the end of the line when every output is one line.

    A one-line answer is complete at its first newline, and a small model that missed its EOS
    tends to go on with a new line; outputs that span lines must keep their newlines, so then
    only EOS stops.
    """
    return [] if any(END_OF_LINE in output.strip() for output in outputs) else [END_OF_LINE]


def validation_tolerance(rows: int) -> float:
    """Exact-match points within which two validations count as equal: one row of `rows`."""
    return 100.0 / rows if rows else 0.0


def is_better(
    candidate: tuple[float, float], best: tuple[float, float] | None, top: float, tolerance: float
) -> bool:
    """Whether a validation (exact match, loss) beats the best one so far and should be kept.

    Exact match decides, but a difference of at most `tolerance` (one validation row) is noise
    on a validation split of a few dozen rows: such validations are equal, and the lower loss
    wins. A candidate must also be within `tolerance` of `top`, the highest exact match of any
    validation so far (the candidate included), so a run of equal-looking steps cannot drift
    down from the best score.

    Examples (tolerance 5): 100 beats 90; 95 with a lower loss beats 100; 95 with a higher
    loss does not; 90 never beats a best of 100 whatever its loss.
    """
    exact, loss = candidate
    if best is None:
        return True
    if exact < top - tolerance:
        return False
    best_exact, best_loss = best
    return exact > best_exact + tolerance or (exact >= best_exact - tolerance and loss < best_loss)


def validations_without_progress(history: Sequence[tuple[int, float, float]]) -> int:
    """How many of the latest validations improved on nothing seen before them.

    A validation makes progress when its exact match is higher, or its loss lower, than every
    earlier one's. Early stopping waits for `patience` validations in a row without either:
    a noisy validation split of a few dozen rows often dips once before the run improves again,
    and the learning rate is still high early in a run.
    """
    count = 0
    best_exact, best_loss = float("-inf"), float("inf")
    for _, exact, loss in history:
        count = 0 if exact > best_exact or loss < best_loss else count + 1
        best_exact, best_loss = max(best_exact, exact), min(best_loss, loss)
    return count


def validation_rows(rows: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """The validation rows used: the labelled ones when there are enough, at most `MAX_EVAL_ROWS`.

    Rows a teacher generated ("source": "generated") carry its mistakes (the small embedded
    teacher gets many dates wrong), and an answer no model should give only adds noise to the
    choice of checkpoint; so when at least `MIN_LABELLED_VAL_ROWS` rows come from a dataset, only
    those are used.
    """
    labelled = [row for row in rows if row.get("source", "dataset") != "generated"]
    chosen = labelled if len(labelled) >= MIN_LABELLED_VAL_ROWS else list(rows)
    return chosen[:MAX_EVAL_ROWS]


def validation_history(log_history: Sequence[Mapping[str, Any]]) -> list[tuple[int, float, float]]:
    """(step, validation exact match, validation loss) of every validation, resumed ones included."""
    return [
        (int(entry["step"]), float(entry["eval_exact_match"]), float(entry["eval_loss"]))
        for entry in log_history
        if "eval_exact_match" in entry
    ]


class TimeBudget:
    """A Trainer callback that stops training once `seconds` have passed since training began.

    The step at which it stops is validated and checkpointed like a last step, so the best
    model so far is what is kept. `seconds` <= 0 never stops.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.started: float | None = None
        self.fired = False

    def callback(self) -> TrainerCallback:
        """The object to give `Trainer.add_callback`."""
        from transformers import TrainerCallback

        budget = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                budget.started = budget.clock()

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if budget.seconds <= 0 or budget.started is None or control.should_training_stop:
                    return
                if budget.clock() - budget.started >= budget.seconds:
                    budget.fired = True
                    control.should_training_stop = True
                    control.should_save = True
                    control.should_evaluate = args.eval_strategy != "no"

        return _Callback()


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


def _load_student(student: Path | str, max_length: int) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
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
    # The predictor cuts prompts longer than the training length to `model_max_length`.
    tokenizer.model_max_length = max_length
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
    args = TrainingArguments(
        use_cpu=not cuda,
        bf16=config.bf16 and bf16_supported(),
        output_dir=str(checkpoints_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
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
    trainer = _validating_trainer(
        val_rows=val_rows,
        template=template,
        patience=config.patience,
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
            **kwargs: Any,
        ):
            super().__init__(*args, **kwargs)
            self.val_rows = list(val_rows)
            self.template = template
            self.patience = patience

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
            return (loss, outputs) if return_outputs else loss

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
            """Keep this step if `is_better` says so; stop after `patience` validations without
            progress (`validations_without_progress`).

            Everything is derived from the logged validations and the best step in the
            Trainer's state, which checkpoints carry, so a resumed run decides the same way.
            """
            history = validation_history(self.state.log_history)
            best_step = self.state.best_global_step
            best = next(((e, loss) for step, e, loss in history if step == best_step), None)
            top = max(e for _, e, _ in history)
            candidate = (metrics["eval_exact_match"], metrics["eval_loss"])
            new_best = is_better(candidate, best, top, validation_tolerance(len(self.val_rows)))
            if new_best:
                self.state.best_metric = candidate[0]
                self.state.best_global_step = self.state.global_step
            if self.patience and validations_without_progress(history) >= self.patience:
                self.control.should_training_stop = True
            return new_best

        def validation_exact_match(self) -> float:
            from p2m_lib.evaluate.metrics import exact_match

            model = self.accelerator.unwrap_model(self.model)
            predictor = StudentPredictor(model, self.processing_class, self.template)
            was_training = model.training
            model.eval()
            try:
                answers = predictor.predict([row["input"] for row in self.val_rows], batch_size=16)
            finally:
                model.train(was_training)
            return round(exact_match(answers, [row["output"] for row in self.val_rows]), 4)

    return ValidatingTrainer


def target_loss(model: Any, inputs: Mapping[str, Any], num_items_in_batch: Any = None) -> tuple[Any, Any]:
    """The mean cross-entropy of the target tokens, with logits computed only where needed.

    For a decoder-only batch padded on the left (`make_collator(tokenizer, "left")`) the model
    computes logits for the last `target_window` positions only (`logits_to_keep`), not for every
    prompt token: the output layer over a 49k-token vocabulary is a large share of a small
    model's work. The value equals the usual shifted loss over the labelled tokens (the output
    and its EOS); `num_items_in_batch`, when the Trainer gives it, is the divisor.

    Returns:
        (loss, model outputs).
    """
    import torch

    labels = inputs["labels"]
    window = target_window(labels)
    outputs = model(**{key: value for key, value in inputs.items() if key != "labels"}, logits_to_keep=window)
    logits = outputs.logits[:, :-1, :].float()
    targets = labels[:, labels.shape[1] - window + 1 :].to(logits.device)
    total = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE_INDEX).sum()
    return total / count, outputs


def _validating_trainer(**kwargs: Any) -> Trainer:
    """A `ValidatingTrainer`; the class is built on first use, as transformers is slow to import."""
    return _validating_trainer_class()(**kwargs)


def _run(trainer: Trainer, resume_from: Path | None, total_steps: int) -> None:
    from p2m_lib.train.progress_callback import RichProgressCallback

    if resume_from and _finished(resume_from, total_steps):
        _restore_finished(trainer, resume_from)
        return
    with progress_bar("Training", total=total_steps) as bar, quiet_transformers():
        trainer.add_callback(RichProgressCallback(bar))
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)


def _finished(checkpoint: Path, total_steps: int) -> bool:
    """Whether the run that wrote `checkpoint` had ended there: at its last step, or stopped.

    The Trainer saves its control flags with each checkpoint: `should_training_stop` set at a
    step before the run's own last one means early stopping or the time budget ended it, and a
    rerun keeps that model rather than train on. A run that reached its own last step is
    continued when the plan now has more steps.
    """
    if _checkpoint_step(checkpoint) >= total_steps:
        return True
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    control = state.get("stateful_callbacks", {}).get("TrainerControl", {})
    stopped = bool(control.get("args", {}).get("should_training_stop"))
    return stopped and _checkpoint_step(checkpoint) < int(state.get("max_steps") or 0)


def _checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.removeprefix("checkpoint-"))


def _restore_finished(trainer: Trainer, checkpoint: Path) -> None:
    """Load the state of a run that already ended, and the weights it kept (its best checkpoint).

    `Trainer.train` resumed from such a checkpoint would take one more step before it noticed.
    """
    from transformers import TrainerState

    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    best = trainer.state.best_model_checkpoint
    kept = Path(best) if best and Path(best).is_dir() else checkpoint
    # Private, but the one loader that handles full models and LoRA adapters alike (pinned version).
    trainer._load_from_checkpoint(str(kept))


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


def _max_new_tokens(train_data: list[dict[str, list[int]]], max_length: int) -> int:
    """Twice the longest training target (at least 16, at most `max_length`) tokens.

    Room for answers somewhat longer than any seen in training, while a model that never
    stops still stops soon.
    """
    longest = max(sum(label >= 0 for label in row["labels"]) for row in train_data)
    return min(max_length, max(16, 2 * longest))


def _generation_config(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_new_tokens: int, stops: list[str]
) -> Any:
    """Greedy decoding, at most `max_new_tokens`, stopping at EOS and at any of `stops`."""
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        bos_token_id=model.generation_config.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=model.generation_config.decoder_start_token_id,
        stop_strings=stops or None,
    )


def _save(model: Any, tokenizer: PreTrainedTokenizerBase, template: TaskTemplate, out_dir: Path) -> None:
    # LoRA adapters are folded into the base weights so the folder is a plain model.
    plain = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        # The generation config set before training (and used for validation) is saved with it.
        plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    template.save(out_dir)
