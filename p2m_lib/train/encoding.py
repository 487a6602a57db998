"""Token ids for training and inference, built the same way in both.

The prompt is tokenized on its own, with the tokenizer's usual special tokens, exactly as the
predictor tokenizes it at inference; the target is the output's tokens without special tokens,
followed by the EOS id. Masks are built from positions, never from token ids: SmolLM2's padding
token is its EOS token, and the target's final EOS must stay in the loss so the model learns to
stop.

Truncation to `max_length` keeps the target: a sequence that does not fit keeps the target's
first max(max_length - prompt tokens, max_length // 2) tokens (for encoder-decoder models, the
first `max_length`), and a prompt longer than its budget loses tokens from its middle, keeping
its head (task tag and instruction) and its tail (the end of the input and "Label:").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from p2m_lib.process.template import DECODER_ONLY, TaskTemplate

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


def truncate_middle(ids: list[int], budget: int) -> list[int]:
    """`ids` cut to at most `budget` tokens by removing tokens from the middle."""
    if len(ids) <= budget:
        return ids
    head = budget // 2
    return ids[:head] + ids[len(ids) - (budget - head) :]


def prompt_ids(tokenizer: PreTrainedTokenizerBase, template: TaskTemplate, input: str) -> list[int]:
    """The prompt's token ids, special tokens included, as inference sees them."""
    return tokenizer(template.prompt(input))["input_ids"]


def target_ids(tokenizer: PreTrainedTokenizerBase, output: str) -> list[int]:
    """The output's token ids followed by the EOS id."""
    return tokenizer(output.strip(), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def encode_example(
    tokenizer: PreTrainedTokenizerBase, template: TaskTemplate, input: str, output: str, max_length: int
) -> dict[str, list[int]]:
    """Model inputs and labels for one training pair.

    Decoder-only: input_ids = prompt + output + EOS; labels = -100 on every prompt position,
    then the output ids and the EOS id. Encoder-decoder: input_ids = prompt; labels = output +
    EOS. See the module docstring for truncation.

    Returns:
        {"input_ids", "attention_mask", "labels"}, unpadded.
    """
    prompt, target = prompt_ids(tokenizer, template, input), target_ids(tokenizer, output)
    if template.kind == DECODER_ONLY:
        return _decoder_only(prompt, target, max_length)
    prompt = truncate_middle(prompt, max_length)
    return {"input_ids": prompt, "attention_mask": [1] * len(prompt), "labels": target[:max_length]}


def _decoder_only(prompt: list[int], target: list[int], max_length: int) -> dict[str, list[int]]:
    if len(prompt) + len(target) > max_length:
        target = target[: max(max_length - len(prompt), max_length // 2)]
        prompt = truncate_middle(prompt, max_length - len(target))
    input_ids = prompt + target
    return {
        "input_ids": input_ids,
        "attention_mask": [1] * len(input_ids),
        "labels": [IGNORE_INDEX] * len(prompt) + target,
    }


def make_collator(tokenizer: PreTrainedTokenizerBase, padding_side: str | None = None) -> Any:
    """Pads a batch to its longest row (dynamic padding): input ids with the pad id, labels with -100.

    Args:
        tokenizer: Gives the pad id (its EOS id when it has none) and, when `padding_side` is
            None, the side to pad on.
        padding_side: "right", or "left" for decoder-only training: rows then end together, as
            prompts do at inference (the predictor pads on the left), every row's target sits in
            the batch's last columns (see `target_window`), and the batch carries `position_ids`
            counted from each row's first real token, so padding never shifts a position.
    """
    side = padding_side or tokenizer.padding_side
    fill = pad_id(tokenizer)

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        return pad_rows(rows, fill, side)

    return collate


def end_of_sequence_ids(model: Any, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """The ids that end a generated sequence: the one or several the model's generation config
    names, and the tokenizer's own end-of-sequence id."""
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    return {token for token in [*ids, tokenizer.eos_token_id] if token is not None}


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id batches are padded with: the tokenizer's pad id, its EOS id when it has none."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def pad_to(values: list[int], width: int, fill: int, side: str) -> list[int]:
    """`values` padded with `fill` to `width`, on the left or on the right."""
    padding = [fill] * (width - len(values))
    return padding + values if side == "left" else values + padding


def pad_rows(rows: list[dict[str, list[int]]], fill: int, side: str) -> dict[str, Any]:
    """`make_collator`'s batch from encoded rows, as tensors (position ids only when padding left)."""
    import torch

    width = max(len(row["input_ids"]) for row in rows)
    batch = {
        "input_ids": [pad_to(row["input_ids"], width, fill, side) for row in rows],
        "attention_mask": [pad_to(row["attention_mask"], width, 0, side) for row in rows],
    }
    if "labels" in rows[0]:
        label_width = width if side == "left" else max(len(row["labels"]) for row in rows)
        batch["labels"] = [pad_to(row["labels"], label_width, IGNORE_INDEX, side) for row in rows]
    if side == "left":
        batch["position_ids"] = [
            [max(0, index - (width - len(row["input_ids"]))) for index in range(width)] for row in rows
        ]
    return {name: torch.tensor(values) for name, values in batch.items()}


def target_window(labels: Any) -> int:
    """How many final positions of a left-padded decoder-only batch hold every target's logits.

    The logits at position t predict the token at t + 1, so the window starts one position
    before the earliest labelled token of any row and runs to the end; logits elsewhere (the
    prompts) are never needed for the loss.
    """
    labelled = (labels != IGNORE_INDEX).any(dim=0).nonzero()
    first = int(labelled[0]) if len(labelled) else labels.shape[1] - 1
    # A label in the very first column has no logits before it (a causal LM never predicts it).
    return min(labels.shape[1], labels.shape[1] - first + 1)
