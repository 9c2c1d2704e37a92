"""The public block-sparse attention entry point: validation, backend choice, torch custom op."""

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
from dit_accel.kernels.block_sparse.naive import (
    block_sparse_attention_naive,
    var_block_sparse_attention_naive,
)
from dit_accel.kernels.block_sparse.torch_sparse import block_sparse_attention_torch
from dit_accel.kernels.block_sparse.torch_var import var_block_sparse_attention_torch
from dit_accel.layout import BlockLayout
from dit_accel.var_layout import VarBlockLayout


@torch.library.custom_op("dit_accel::block_sparse_attention", mutates_args=())
def _block_sparse_attention_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
    backend: str,
    need_lse: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    if backend == "triton":
        from dit_accel.kernels.block_sparse.triton_fwd import block_sparse_attention_fwd

        out, lse = block_sparse_attention_fwd(q, k, v, kv_counts, kv_indices, block_q, block_k, scale)
    elif backend == "torch":
        return block_sparse_attention_torch(
            q, k, v, kv_counts, kv_indices, block_q, block_k, scale, need_lse=need_lse
        )
    else:
        compute = torch.float64 if q.dtype == torch.float64 else torch.float32
        out, lse = block_sparse_attention_naive(
            q, k, v, kv_counts, kv_indices, block_q, block_k, scale, compute_dtype=compute
        )
    return out, lse if need_lse else lse.new_empty(0)


@_block_sparse_attention_op.register_fake
def _(q, k, v, kv_counts, kv_indices, block_q, block_k, scale, backend, need_lse):
    b, s, h, _ = q.shape
    out = q.new_empty(b, s, h, v.shape[-1])
    lse = q.new_empty((b, h, s) if need_lse else (0,), dtype=torch.float32)
    return out, lse


@torch.library.custom_op("dit_accel::var_block_sparse_attention", mutates_args=())
def _var_block_sparse_attention_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    q_offsets: torch.Tensor,
    k_offsets: torch.Tensor,
    scale: float,
    backend: str,
    need_lse: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    csr = (kv_counts, kv_indices, q_offsets, k_offsets)
    if backend == "triton":
        from dit_accel.kernels.block_sparse.triton_var import var_block_sparse_attention_fwd

        out, lse = var_block_sparse_attention_fwd(q, k, v, *csr, scale)
    elif backend == "torch":
        return var_block_sparse_attention_torch(q, k, v, *csr, scale, need_lse=need_lse)
    else:
        compute = torch.float64 if q.dtype == torch.float64 else torch.float32
        out, lse = var_block_sparse_attention_naive(q, k, v, *csr, scale, compute_dtype=compute)
    return out, lse if need_lse else lse.new_empty(0)


@_var_block_sparse_attention_op.register_fake
def _(q, k, v, kv_counts, kv_indices, q_offsets, k_offsets, scale, backend, need_lse):
    b, s, h, _ = q.shape
    out = q.new_empty(b, s, h, v.shape[-1])
    lse = q.new_empty((b, h, s) if need_lse else (0,), dtype=torch.float32)
    return out, lse


def _validate(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: BlockLayout | VarBlockLayout, backend: str
) -> None:
    if not isinstance(layout, (BlockLayout, VarBlockLayout)):
        raise ValueError(
            f"layout must be a dit_accel.BlockLayout or VarBlockLayout, got {type(layout).__name__}"
        )
    check_backend(backend)
    check_tensors(q=q, k=k, v=v)
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k, v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device == layout.device):
        raise ValueError(
            f"q, k, v and layout must be on one device, got {q.device}, {k.device}, {v.device}, "
            f"{layout.device}"
        )
    b, sq, h, d = q.shape
    if k.shape[0] != b or v.shape[0] != b or k.shape[2] != h or v.shape[2] != h:
        raise ValueError(
            f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} must share batch and heads"
        )
    if k.shape[3] != d or v.shape[1] != k.shape[1]:
        raise ValueError(
            f"k must be [B, Sk, H, {d}] and v [B, Sk, H, Dv], got {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if v.shape[3] != d:
        raise ValueError(f"v head dim must equal q head dim {d}, got {v.shape[3]}")
    if layout.q_len != sq or layout.kv_len != k.shape[1]:
        raise ValueError(
            f"layout is for q_len={layout.q_len}, kv_len={layout.kv_len} but q has {sq} tokens and k "
            f"has {k.shape[1]}"
        )
    if layout.batch not in (1, b):
        raise ValueError(f"layout batch must be 1 or {b} (q's batch), got {layout.batch}")
    if layout.heads not in (1, h):
        raise ValueError(f"layout heads must be 1 or {h} (q's heads), got {layout.heads}")
    check_triton_device(backend, q.device)


def block_sparse_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    layout: BlockLayout | VarBlockLayout,
    scale: float | None = None,
    return_lse: bool = False,
    backend: str | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Block-sparse softmax attention.

    q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]` (diffusers' layout, any strides); `layout` lists the key
    blocks of each query block (batch and head dims 1 broadcast); a `VarBlockLayout` gives every
    block its own size. `scale` defaults to 1/sqrt(D).
    Returns out `[B, Sq, H, D]` in q's dtype, and with `return_lse` also lse float32 `[B, H, Sq]`
    (natural log; -inf for rows that attend to nothing, whose output is zero).
    Backends: "triton" (default on CUDA), "torch" (default elsewhere), "reference" (dense, tests).
    """
    if backend is None:
        backend = default_backend(q.device)
    _validate(q, k, v, layout, backend)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if isinstance(layout, VarBlockLayout):
        out, lse = _var_block_sparse_attention_op(
            q,
            k,
            v,
            layout.kv_counts,
            layout.kv_indices,
            layout.q_offsets,
            layout.k_offsets,
            float(scale),
            backend,
            return_lse,
        )
        return (out, lse) if return_lse else out
    out, lse = _block_sparse_attention_op(
        q,
        k,
        v,
        layout.kv_counts,
        layout.kv_indices,
        layout.block_q,
        layout.block_k,
        float(scale),
        backend,
        return_lse,
    )
    return (out, lse) if return_lse else out


__all__ = ["BACKENDS", "block_sparse_attention", "default_backend"]
