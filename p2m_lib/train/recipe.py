"""The plan a training run follows, fixed before its first step: how many steps, how often to
validate and on which rows, the numeric precision, and how the model decodes (which validation,
evaluation and serving share through the saved generation config).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from p2m_lib.config import TrainConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Validation (loss and exact match) uses at most this many rows, to keep it cheap on a CPU.
MAX_EVAL_ROWS = 64
# Validate on labelled rows only when the validation split holds at least this many.
MIN_LABELLED_VAL_ROWS = 10
# About this many validations (and checkpoints) per run when `eval_every` is 0.
VALIDATIONS_PER_RUN = 5
# A stop string that ends one-line answers; see `stop_strings`.
END_OF_LINE = "\n"


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


def stop_strings(outputs: Sequence[str]) -> list[str]:
    """Where decoding stops besides EOS: at the end of the line when every output is one line.

    A one-line answer is complete at its first newline, and a small model that missed its EOS
    tends to go on with a new line; outputs that span lines must keep their newlines, so then
    only EOS stops.
    """
    return [] if any(END_OF_LINE in output.strip() for output in outputs) else [END_OF_LINE]


def max_new_tokens_for(train_data: list[dict[str, list[int]]], max_length: int) -> int:
    """Twice the longest training target (at least 16, at most `max_length`) tokens.

    Room for answers somewhat longer than any seen in training, while a model that never
    stops still stops soon.
    """
    longest = max(sum(label >= 0 for label in row["labels"]) for row in train_data)
    return min(max_length, max(16, 2 * longest))


def generation_config(
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
