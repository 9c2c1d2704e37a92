"""The stock attention path: diffusers' dispatcher (torch SDPA unless another backend is set), the one
dense path of a self-attention call that does not run sparse (short sequences, dense steps and layers,
masks the methods cannot honour)."""

from __future__ import annotations

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn


def stock_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """Exact attention: q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]`, `mask` broadcastable to `[B, H, Sq, Sk]`
    (bool: True = attend, or additive) -> `[B, Sq, H, D]`."""
    return dispatch_attention_fn(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False, backend=backend)
