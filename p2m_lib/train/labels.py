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
from p2m_lib.train.encoding import encode_example, pad_id, pad_rows
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

    Each (input, label) pair is encoded as training encodes it (`encode_example`, truncated to
    the tokenizer's `model_max_length`); `batch_size` inputs are scored together, with all their
    labels.
    """
    import torch

    labels = list(template.label_counts)
    total = sum(template.label_counts.values())
    log_shares = torch.tensor([math.log(template.label_counts[label] / total) for label in labels])
    encoded = [
        [encode_example(tokenizer, template, text, label, tokenizer.model_max_length) for label in labels]
        for text in inputs
    ]
    # Inputs of similar length scored together waste little on padding.
    by_length = sorted(range(len(inputs)), key=lambda i: len(encoded[i][0]["input_ids"]))
    answers: dict[int, str] = {}
    for start in range(0, len(by_length), batch_size):
        batch = by_length[start : start + batch_size]
        rows = [row for i in batch for row in encoded[i]]
        scores = _log_likelihoods(model, tokenizer, template, rows).reshape(len(batch), len(labels))
        best = (scores - log_shares).argmax(dim=1).tolist()
        answers.update((i, labels[choice]) for i, choice in zip(batch, best, strict=True))
    return [answers[i] for i in range(len(inputs))]


def _log_likelihoods(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    template: TaskTemplate,
    rows: list[dict[str, Any]],
) -> Any:
    """Each row's summed log-probability of its target tokens."""
    import torch

    side = "left" if template.kind == DECODER_ONLY else "right"
    batch = {name: value.to(model.device) for name, value in pad_rows(rows, pad_id(tokenizer), side).items()}
    with torch.inference_mode():
        losses, _, _ = target_token_losses(model, batch)
    return -losses.sum(dim=1).cpu()
