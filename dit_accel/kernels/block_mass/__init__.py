"""Block attention mass: the exact softmax probability of every (query block, key block) pair.

`mass[b, h, i, j]` = sum over the real rows r of query block i and keys c of key block j of
softmax(scale * q.k)[r, c], divided by the number of real rows of block i, so each row of the map
sums to 1. Backends: "triton" (CUDA, or the CPU interpreter), "torch" (chunked, CPU default),
"reference" (dense float64, for tests).
"""

from __future__ import annotations

import math

import torch

from dit_accel.kernels.backends import (
    BACKENDS,
    check_backend,
    check_tensors,
    check_triton_device,
    default_backend,
)
from dit_accel.kernels.block_mass.naive import block_attention_mass_naive
from dit_accel.kernels.block_mass.torch_mass import block_attention_mass_torch


def _validate(
    q: torch.Tensor, k: torch.Tensor, block_q: int, block_k: int, lse: torch.Tensor | None, backend: str
) -> None:
    check_backend(backend)
    check_tensors(q=q, k=k)
    if q.dtype != k.dtype or q.device != k.device:
        raise ValueError(
            f"q and k must share dtype and device, got {q.dtype}/{q.device}, {k.dtype}/{k.device}"
        )
    if (q.shape[0], q.shape[2], q.shape[3]) != (k.shape[0], k.shape[2], k.shape[3]):
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must share batch, heads and head dim")
    for name, value in (("block_q", block_q), ("block_k", block_k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 16 or value & (value - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {value!r}")
    if lse is not None:
        b, sq, h, _ = q.shape
        if lse.shape != (b, h, sq) or lse.device != q.device:
            raise ValueError(
                f"lse must be [B, H, Sq] = {(b, h, sq)} on {q.device}, got {tuple(lse.shape)} on {lse.device}"
            )
    check_triton_device(backend, q.device)


def block_attention_mass(
    q: torch.Tensor,
    k: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float | None = None,
    lse: torch.Tensor | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """Exact attention mass per block pair, float32 `[B, H, nq, nk]` (rows sum to 1).

    q `[B, Sq, H, D]`, k `[B, Sk, H, D]` (diffusers' layout, any strides); block sizes are powers of
    two >= 16; `scale` defaults to 1/sqrt(D). `lse` float32 `[B, H, Sq]`, the dense attention's row
    logsumexp at the same scale (e.g. from a dense `block_sparse_attention(..., return_lse=True)`),
    saves the triton backend a pass; without it each backend computes it itself.
    Backend defaults to "triton" on CUDA, "torch" elsewhere.
    """
    if backend is None:
        backend = default_backend(q.device)
    _validate(q, k, block_q, block_k, lse, backend)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if backend == "triton":
        from dit_accel.kernels.block_mass.triton_mass import block_attention_mass_fwd

        return block_attention_mass_fwd(q, k, block_q, block_k, float(scale), lse)
    if backend == "torch":
        return block_attention_mass_torch(q, k, block_q, block_k, float(scale), lse)
    return block_attention_mass_naive(q, k, block_q, block_k, float(scale), lse)


__all__ = ["BACKENDS", "block_attention_mass", "block_attention_mass_naive", "block_attention_mass_torch"]
