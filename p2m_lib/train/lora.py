"""LoRA (`--lora`): low-rank adapters on the attention and MLP projections instead of every weight.

They are merged into the base weights when the model is saved (`checkpoints.save_model`), so the
saved folder is a plain model either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from p2m_lib.process.template import DECODER_ONLY, TaskTemplate

if TYPE_CHECKING:
    from transformers import PreTrainedModel

LORA_RANK = 8
LORA_ALPHA = 16
LORA_DROPOUT = 0.05
# Attention and MLP projections by model family; other families get peft's "all-linear".
LORA_TARGETS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "t5": ["q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"],
    "mt5": ["q", "k", "v", "o", "wi_0", "wi_1", "wo"],
}


def with_lora(model: PreTrainedModel, template: TaskTemplate) -> PreTrainedModel:
    """`model` wrapped by peft with LoRA adapters on its projections: only the adapters train."""
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
