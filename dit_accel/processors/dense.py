"""The one dense attention path: diffusers' dispatcher (torch SDPA unless another backend is set)."""

from __future__ import annotations

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn


def dense_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """Exact attention: q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]`, `mask` broadcastable to `[B, H, Sq, Sk]`
    (bool: True = attend, or additive) -> `[B, Sq, H, D]`."""
    return dispatch_attention_fn(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False, backend=backend)
