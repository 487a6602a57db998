"""How likely a model finds each row's target: the per-token cross-entropy that training minimises
and that a classification student's answer is chosen by (`labels`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from p2m_lib.train.encoding import IGNORE_INDEX, target_window


def target_token_losses(model: Any, inputs: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """The cross-entropy of every target token of a batch, with logits computed only where needed.

    A decoder-only batch padded on the left (`make_collator(tokenizer, "left")`, with its
    `position_ids`) has logits computed for its last `target_window` positions only
    (`logits_to_keep`), not for every prompt token: the output layer over a 49k-token vocabulary
    is a large share of a small model's work. Any other batch (an encoder-decoder model's) is
    scored whole.

    Returns:
        (losses, targets, model outputs): `losses[i, t]` is the cross-entropy of `targets[i, t]`,
        0 where the target is `IGNORE_INDEX` (prompt and padding).
    """
    import torch

    labels = inputs["labels"]
    if "position_ids" in inputs:
        window = target_window(labels)
        outputs = model(
            **{key: value for key, value in inputs.items() if key != "labels"}, logits_to_keep=window
        )
        logits = outputs.logits[:, :-1, :].float()
        targets = labels[:, labels.shape[1] - window + 1 :].to(logits.device)
    else:
        outputs = model(**inputs)
        logits = outputs.logits.float()
        targets = labels.to(logits.device)
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).reshape(targets.shape)
    return losses, targets, outputs
