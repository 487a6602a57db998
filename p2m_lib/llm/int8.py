"""int8 linear layers for a teacher on a CPU without native bfloat16 (AVX2 alone).

torch's dynamic quantization (fbgemm) computes a linear layer with int8 weights and int8
activations, the activations scaled once per call: one value far larger than the rest then leaves
the others a few int8 steps. The MLP's down projection reads such values (a few input channels,
"massive activations"), so in int8 it cost the 1.5B teacher 30 points on tickets; left in
float32, it took as long as all the other layers together in int8 (docs/BENCHMARKS.md, Teacher).
Here it is split as in LLM.int8() (Dettmers et al. 2022): the input channels that hold an outlier
in a call are multiplied in float32, the rest in int8 with a scale per output row.
"""

from __future__ import annotations

import warnings

import torch
from torch.ao.nn.quantized.dynamic import Linear as Int8Linear
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

# Layers whose inputs hold outliers, computed by `OutlierSplitLinear`.
OUTLIER_LAYERS = ("down_proj",)
# An input channel is an outlier in a call when a value in it exceeds this: 42 channels of 8,960
# on average in the 1.5B teacher's down projections (docs/BENCHMARKS.md, Teacher).
OUTLIER_THRESHOLD = 8.0


class OutlierSplitLinear(torch.nn.Module):
    """A linear layer in int8 but for the input channels that hold an outlier in this call.

    Args:
        linear: The float32 layer; its weight is kept for the outlier channels.
        threshold: The absolute value from which a channel is computed in float32.
    """

    def __init__(self, linear: torch.nn.Linear, threshold: float = OUTLIER_THRESHOLD) -> None:
        super().__init__()
        self.threshold = threshold
        self.weight = linear.weight
        linear.qconfig = per_channel_dynamic_qconfig
        with warnings.catch_warnings():
            # Deprecated in favour of torchao, which is not a dependency; it works in torch 2.13.
            warnings.simplefilter("ignore")
            self.int8 = Int8Linear.from_float(linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outliers = (x.abs().reshape(-1, x.shape[-1]).amax(dim=0) > self.threshold).nonzero().flatten()
        if outliers.numel() == 0:
            return self.int8(x)
        rest = self.int8(x.index_fill(-1, outliers, 0.0))
        weights = self.weight.index_select(1, outliers)
        return rest + torch.nn.functional.linear(x.index_select(-1, outliers), weights)


def quantize_linear_layers(model: torch.nn.Module) -> None:
    """Compute `model`'s linear layers in int8, in place: those named in OUTLIER_LAYERS split
    (`OutlierSplitLinear`), the others with one scale for a layer's weights and one for each
    call's activations."""
    for name, module in list(model.named_modules()):
        if isinstance(module, torch.nn.Linear) and name.endswith(OUTLIER_LAYERS):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, OutlierSplitLinear(module))
    layers = {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(model, layers, dtype=torch.qint8, inplace=True)
