"""What the machine computes natively: shared by training (autocast) and the local teacher (weights)."""

from __future__ import annotations


def bf16_supported() -> bool:
    """Whether bfloat16 arithmetic is native here: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
