"""A classification student's answer: the label the model finds most likely once the teacher's taste
for some labels is divided out.

The teacher writes some labels far more often than others (German tweets from the prompt alone:
positiv 137, neutral 105, negativ 78 of 320 training rows; AG News: Sports 15 of 320), and a student
trained on its rows learns that mix as a prior: it answered "positiv" to 24 of 40 real tweets, of
which 13 are. Nothing in a prompt says what mix real inputs have, so a student trained on the
teacher's rows alone takes every label as equally likely (the prior correction of Saerens et al.,
2002, towards a uniform prior): it scores each label by the log-likelihood of the label and its EOS
after the prompt, less the log of the label's share of the training rows, and answers the best.
Measured on the students of prompt-only runs, 200 real rows each (docs/BENCHMARKS.md, Quality):
German tweets 41.5 -> 43.0, SST-2 85.0 -> 86.0, AG News 73.0 -> 74.5.

A user's labelled rows carry a real mix, which the student keeps: with any of them in the training
split it writes its answer as any other task's (greedy decoding).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from p2m_lib.generate.strategies import closed_label_set, label_key
from p2m_lib.process.splits import GENERATED
from p2m_lib.process.template import DECODER_ONLY, TaskTemplate
from p2m_lib.train.encoding import pad_id, pad_rows, prompt_ids, target_ids, truncate_middle
from p2m_lib.train.likelihood import target_token_losses
from p2m_lib.types import Example

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def teacher_label_counts(
    demonstrations: Sequence[Example], rows: Sequence[Mapping[str, str]]
) -> dict[str, int]:
    """How many training rows carry each label of a classification task the teacher labelled alone.

    Args:
        demonstrations: The prompt's demonstrations: their outputs are the task's labels
            (`closed_label_set`).
        rows: The training split's rows ("input", "output", "source").

    Returns:
        {label: rows}, each label spelled as most of its rows spell it; {} when the task is not
        classification, or when any row is not the teacher's (source "dataset"). Labels the teacher
        never wrote are left out: the student cannot have learnt them.
    """
    if not rows or any(row.get("source") != GENERATED for row in rows):
        return {}
    labels = closed_label_set(demonstrations, [Example(row["input"], row["output"]) for row in rows])
    spellings: dict[str, Counter[str]] = {}
    for row in rows:
        if (key := label_key(row["output"])) in labels:
            spellings.setdefault(key, Counter())[row["output"].strip()] += 1
    return {counts.most_common(1)[0][0]: sum(counts.values()) for counts in spellings.values()}


def choose_labels(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    template: TaskTemplate,
    inputs: Sequence[str],
    batch_size: int = 8,
) -> list[str]:
    """For each input, the label of `template.label_counts` with the highest log-likelihood less
    the log of its share of the training rows (see the module docstring).

    A label's log-likelihood is that of its tokens and EOS after the prompt, as training encodes
    them. A prompt is cut in its middle, as training cuts it, to leave room for the longest label
    after it; `batch_size` inputs are scored together, with all their labels.
    """
    import torch

    labels = list(template.label_counts)
    total = sum(template.label_counts.values())
    log_shares = torch.tensor([math.log(template.label_counts[label] / total) for label in labels])
    targets = [target_ids(tokenizer, label) for label in labels]
    room = tokenizer.model_max_length
    if template.kind == DECODER_ONLY:
        room = max(room - max(len(target) for target in targets), room // 2)
    prompts = [truncate_middle(prompt_ids(tokenizer, template, text), room) for text in inputs]
    # Prompts of similar length scored together waste little on padding.
    by_length = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    score = _after_shared_prompts if template.kind == DECODER_ONLY else _pair_by_pair
    answers: dict[int, str] = {}
    for start in range(0, len(by_length), batch_size):
        batch = by_length[start : start + batch_size]
        with torch.inference_mode():
            log_likelihoods = score(model, pad_id(tokenizer), [prompts[i] for i in batch], targets)
        best = (log_likelihoods.cpu() - log_shares).argmax(dim=1).tolist()
        answers.update((i, labels[choice]) for i, choice in zip(batch, best, strict=True))
    return [answers[i] for i in range(len(inputs))]


def _after_shared_prompts(model: Any, fill: int, prompts: list[list[int]], targets: list[list[int]]) -> Any:
    """[prompts, targets] log-likelihoods from a decoder-only model that reads each prompt once.

    The prompts (padded on the left) are read with the cache on; the cache is repeated once per
    label, and every label's tokens but its last are read after it. The prompt's last logits
    score each label's first token, the labels' own logits the rest.
    """
    import torch

    device = model.device
    batch = _on(pad_rows(_rows(prompts), fill, "left"), device)
    read = model(**batch, use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(read.logits[:, -1].float(), dim=-1)[:, [target[0] for target in targets]]
    labels = len(targets)
    cache = read.cache
    cache.batch_repeat_interleave(labels)
    # Each label's tokens but the last are read, each predicting the one after it.
    fed = _on(pad_rows(_rows([target[:-1] for target in targets]), fill, "right"), device)
    predicted = _on(pad_rows(_rows([target[1:] for target in targets]), fill, "right"), device)
    width = fed["input_ids"].shape[1]
    lengths = torch.tensor([len(prompt) for prompt in prompts], device=device).repeat_interleave(labels)
    attention = [
        batch["attention_mask"].repeat_interleave(labels, dim=0),
        _tiled(fed["attention_mask"], prompts),
    ]
    rest = model(
        input_ids=_tiled(fed["input_ids"], prompts),
        attention_mask=torch.cat(attention, dim=1),
        position_ids=lengths[:, None] + torch.arange(width, device=device)[None, :],
        cache=cache,
    )
    log_probs = torch.log_softmax(rest.logits.float(), dim=-1)
    tokens = _tiled(predicted["input_ids"], prompts)
    later = log_probs.gather(-1, tokens[..., None]).squeeze(-1) * _tiled(predicted["attention_mask"], prompts)
    return first + later.sum(dim=1).reshape(len(prompts), labels)


def _tiled(per_label: Any, prompts: list[list[int]]) -> Any:
    """A [labels, width] tensor repeated for every prompt: row p * labels + k is label k's."""
    return per_label.repeat(len(prompts), 1)


def _pair_by_pair(model: Any, fill: int, prompts: list[list[int]], targets: list[list[int]]) -> Any:
    """[prompts, targets] log-likelihoods from an encoder-decoder model: every (prompt, label) pair
    is one row of the batch, scored as training scores it."""
    rows = [row | {"labels": target} for row in _rows(prompts) for target in targets]
    batch = _on(pad_rows(rows, fill, "right"), model.device)
    losses, _, _ = target_token_losses(model, batch)
    return -losses.sum(dim=1).reshape(len(prompts), len(targets))


def _on(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {name: value.to(device) for name, value in batch.items()}


def _rows(sequences: list[list[int]]) -> list[dict[str, list[int]]]:
    return [{"input_ids": ids, "attention_mask": [1] * len(ids)} for ids in sequences]
