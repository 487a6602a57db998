"""int8 linear layers: outliers computed apart, in float32."""

from __future__ import annotations

import torch
from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

from p2m_lib.llm.int8 import OutlierSplitLinear, quantize_linear_layers


def _layer_and_input(outlier: float) -> tuple[torch.nn.Linear, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    linear = torch.nn.Linear(64, 16, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(16, 64, generator=generator) * 0.1)
    x = torch.randn(2, 3, 64, generator=generator)
    x[1, 2, 5] = outlier
    return linear, x


def test_an_outlier_channel_is_computed_in_float32_and_the_rest_keep_their_precision() -> None:
    linear, x = _layer_and_input(outlier=100.0)
    exact = linear(x)
    per_call_scale = Int8Linear.from_float(_with_default_qconfig(linear))

    split = OutlierSplitLinear(linear, threshold=8.0)

    # One scale for the call: the outlier leaves every other value a few int8 steps (an error of
    # 0.56 here); split, the error is that of int8 without the outlier (0.03).
    assert (per_call_scale(x) - exact).abs().max() > 0.3
    assert (split(x) - exact).abs().max() < 0.06
    assert split(x).shape == (2, 3, 16)


def test_without_an_outlier_the_whole_layer_is_int8() -> None:
    linear, x = _layer_and_input(outlier=0.5)
    split = OutlierSplitLinear(linear, threshold=8.0)

    assert torch.equal(split(x), split.int8(x))
    assert (split(x) - linear(x)).abs().max() < 0.06


def test_the_down_projections_are_split_and_the_other_linear_layers_int8() -> None:
    mlp = torch.nn.ModuleDict(
        {
            "up_proj": torch.nn.Linear(8, 32),
            "down_proj": torch.nn.Linear(32, 8),
            "norm": torch.nn.LayerNorm(8),
        }
    )
    model = torch.nn.ModuleDict({"mlp": mlp, "lm_head": torch.nn.Linear(8, 4)})

    quantize_linear_layers(model)

    layers = dict(model.named_modules())
    assert isinstance(layers["mlp.down_proj"], OutlierSplitLinear)
    assert isinstance(layers["mlp.down_proj.int8"], Int8Linear)
    assert isinstance(layers["mlp.up_proj"], Int8Linear)
    assert isinstance(layers["lm_head"], Int8Linear)
    assert type(layers["mlp.norm"]) is torch.nn.LayerNorm


def _with_default_qconfig(linear: torch.nn.Linear) -> torch.nn.Linear:
    copy = torch.nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
    copy.load_state_dict(linear.state_dict())
    copy.qconfig = torch.ao.quantization.default_dynamic_qconfig
    return copy
