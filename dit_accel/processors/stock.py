"""The stock attention path: diffusers' dispatcher (torch SDPA unless another backend is set), the one
dense path of a self-attention call that does not run sparse (short sequences, dense steps and layers,
masks the methods cannot honour)."""

from __future__ import annotations

import torch
from diffusers.models._modeling_parallel import ParallelConfig
from diffusers.models.attention_dispatch import dispatch_attention_fn


def stock_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    backend: str | None = None,
    parallel_config: ParallelConfig | None = None,
) -> torch.Tensor:
    """Exact attention: q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]`, `mask` broadcastable to `[B, H, Sq, Sk]`
    (bool: True = attend, or additive) -> `[B, Sq, H, D]`. With a context-parallel `parallel_config`,
    q/k/v are this rank's sequence chunk and diffusers runs its own Ulysses / ring attention."""
    return dispatch_attention_fn(
        q,
        k,
        v,
        attn_mask=mask,
        dropout_p=0.0,
        is_causal=False,
        backend=backend,
        parallel_config=parallel_config,
    )
