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


def make_collator(tokenizer: PreTrainedTokenizerBase) -> Any:
    """Pads a batch to its longest row: input ids with the pad id, labels with -100.

    The tokenizer must pad on the right (the training layout) and have a pad token.
    """
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)
