"""Triton forward kernel for block-sparse attention over blocks of per-block sizes (offsets).

The host cuts every query block into tiles of at most BLOCK_M rows (a table per (batch|1, head|1));
one program computes one tile of one (batch, head) and walks the keys of each listed key block in
BLOCK_N-wide sub-tiles, masked at the block's end, with an online softmax in fp32 (base 2).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from dit_accel.kernels.backends import triton_interpreting
from dit_accel.kernels.triton_utils import (
    LOG2E,
    batch_head,
    check_dtype,
    dot_operand,
    head_meta,
    key_scores,
    load_rows,
    online_softmax,
    store_lse,
)

# Query rows per program: the tile table is built on the host for this size, so it is not tuned.
TILE_M = 64
# Compiled for sm_80 and sm_90 (ptxas), 4 warps or BLOCK_N x BLOCK_D > 64 x 64 spill registers.
_CONFIGS = [triton.Config({"BLOCK_N": n}, num_warps=8, num_stages=s) for n in (32, 64) for s in (2, 3)]


def _prune(configs: list[triton.Config], named_args: dict, **kwargs: Any) -> list[triton.Config]:
    """Configs whose key tile fits the registers without spills (the smallest always stays); one
    when interpreting."""
    block_d = {**named_args, **kwargs}["BLOCK_D"]
    kept = [c for c in configs if c.kwargs["BLOCK_N"] * block_d <= 64 * 64] or configs[:1]
    return kept[:1] if triton_interpreting() else kept


@triton.autotune(
    configs=_CONFIGS, key=["HEAD_DIM", "INPUT_PRECISION"], prune_configs_by={"early_config_prune": _prune}
)
@triton.jit
def var_block_sparse_attention_fwd_kernel(
    q,
    k,
    v,
    out,
    lse,
    kv_counts,
    kv_indices,
    q_offsets,
    k_offsets,
    tile_blocks,
    tile_rows,
    qk_scale,
    H,
    stride_qb,
    stride_qs,
    stride_qh,
    stride_qd,
    stride_kb,
    stride_ks,
    stride_kh,
    stride_kd,
    stride_vb,
    stride_vs,
    stride_vh,
    stride_vd,
    stride_ob,
    stride_os,
    stride_oh,
    stride_od,
    stride_lb,
    stride_lh,
    stride_ls,
    stride_cb,
    stride_ch,
    stride_cq,
    stride_ib,
    stride_ih,
    stride_iq,
    stride_ik,
    stride_qob,
    stride_qoh,
    stride_kob,
    stride_koh,
    stride_tb,
    stride_th,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_t = tl.program_id(0)
    b, h = batch_head(H)
    tile_ptr = b * stride_tb + h * stride_th + pid_t
    q_block = tl.load(tile_blocks + tile_ptr)  # -1 pads the table past this head's tiles
    row_start = tl.load(tile_rows + tile_ptr)
    live = q_block >= 0
    q_block = tl.where(live, q_block, 0)
    q_off = q_offsets + b * stride_qob + h * stride_qoh
    k_off = k_offsets + b * stride_kob + h * stride_koh
    row_end = tl.where(live, tl.load(q_off + q_block + 1), 0)  # a padding tile has no row

    offs_m = row_start + tl.arange(0, BLOCK_M)
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_mask = offs_m < row_end
    d_mask = offs_d < HEAD_DIM

    q_tile = load_rows(
        q + b * stride_qb + h * stride_qh, offs_m, offs_d, m_mask, d_mask, stride_qs, stride_qd, UPCAST
    )  # [BM, BD]
    k_base = k + b * stride_kb + h * stride_kh + offs_d[:, None] * stride_kd  # [BD, 1]
    v_base = v + b * stride_vb + h * stride_vh + offs_d[None, :] * stride_vd  # [1, BD]
    n_blocks = tl.load(kv_counts + b * stride_cb + h * stride_ch + q_block * stride_cq)
    n_blocks = tl.where(live, n_blocks, 0)
    idx_ptr = kv_indices + b * stride_ib + h * stride_ih + q_block * stride_iq

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    for i in range(0, n_blocks):
        k_block = tl.load(idx_ptr + i * stride_ik)
        key_start = tl.load(k_off + k_block)
        key_end = tl.load(k_off + k_block + 1)
        # Empty key blocks run no sub-tile; every sub-tile run has a valid first key.
        for n_start in range(key_start, key_end, BLOCK_N):
            offs_n = n_start + offs_c
            n_mask = offs_n < key_end
            s = key_scores(
                q_tile, k_base, offs_n, n_mask, d_mask, stride_ks, qk_scale, INPUT_PRECISION, UPCAST
            )  # [BM, BN], log2 units
            m_i, l_i, p, alpha = online_softmax(m_i, l_i, s)
            v_tile = tl.load(
                v_base + offs_n[:, None] * stride_vs, mask=n_mask[:, None] & d_mask[None, :], other=0.0
            )
            p = dot_operand(p.to(v.dtype.element_ty), UPCAST)
            acc = tl.dot(
                p, dot_operand(v_tile, UPCAST), acc * alpha[:, None], input_precision=INPUT_PRECISION
            )

    # Rows that read no key: acc = 0, l_i = 0, m_i = -inf -> out 0 and lse -inf.
    o = acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None]
    o_ptrs = out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_os + offs_d[None, :] * stride_od
    tl.store(o_ptrs, o.to(out.dtype.element_ty), mask=m_mask[:, None] & d_mask[None, :])
    store_lse(lse + b * stride_lb + h * stride_lh + offs_m * stride_ls, m_i, l_i, m_mask)


def query_tile_table(q_offsets: torch.Tensor, tile: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiles of at most `tile` rows of every query block, per (batch|1, head|1): (query block int32
    `[Bl, Hl, T]`, first row int32 `[Bl, Hl, T]`), -1 / 0 past each head's own tiles; T is the
    largest tile count of any head. q_offsets int32 `[Bl, Hl, nq + 1]`."""
    bl, hl, n1 = q_offsets.shape
    nq, dev = n1 - 1, q_offsets.device
    count = -(-q_offsets.diff(dim=-1).long() // tile)  # [Bl, Hl, nq] tiles per block
    per_head = count.sum(-1).flatten()  # [Bl * Hl]
    t = max(int(per_head.max()), 1)
    block = torch.repeat_interleave(torch.arange(bl * hl * nq, device=dev), count.flatten())
    head = block // nq
    in_head = torch.arange(block.numel(), device=dev) - (per_head.cumsum(0) - per_head)[head]
    within = in_head - (count.cumsum(-1) - count).flatten()[block]  # tile index inside its block
    slot = head * t + in_head
    blocks = torch.full((bl * hl * t,), -1, dtype=torch.int32, device=dev)
    rows = torch.zeros(bl * hl * t, dtype=torch.int32, device=dev)
    blocks[slot] = (block % nq).int()
    rows[slot] = (q_offsets[..., :-1].flatten().long()[block] + within * tile).int()
    return blocks.view(bl, hl, t), rows.view(bl, hl, t)


def var_block_sparse_attention_fwd(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    q_offsets: torch.Tensor,
    k_offsets: torch.Tensor,
    scale: float,
    input_precision: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-sparse attention forward over blocks of per-block sizes.

    q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]` (any strides); kv_counts int32 `[Bl, Hl, nq]`, kv_indices
    int32 `[Bl, Hl, nq, max_k]`, q_offsets int32 `[Bl, Hl, nq + 1]`, k_offsets int32 `[Bl, Hl, nk + 1]`
    (Bl in {1, B}, Hl in {1, H}). Returns (out `[B, Sq, H, D]` in q.dtype, lse float32 `[B, H, Sq]`
    in natural log; rows that read no key get zeros and -inf).
    """
    check_dtype(q)
    b, sq, h, _ = q.shape
    nq, nk1 = kv_counts.shape[2], k_offsets.shape[2]
    out = torch.empty_like(q, memory_format=torch.contiguous_format)
    lse = torch.empty(b, h, sq, dtype=torch.float32, device=q.device)
    tile_blocks, tile_rows = query_tile_table(q_offsets, TILE_M)
    t = tile_blocks.shape[2]
    counts = kv_counts.expand(b, h, nq)  # stride 0 on broadcast dims
    indices = kv_indices.expand(b, h, nq, kv_indices.shape[-1])
    q_off = q_offsets.expand(b, h, nq + 1)
    k_off = k_offsets.expand(b, h, nk1)
    tile_blocks, tile_rows = tile_blocks.expand(b, h, t), tile_rows.expand(b, h, t)

    var_block_sparse_attention_fwd_kernel[(t, b * h)](
        q,
        k,
        v,
        out,
        lse,
        counts,
        indices,
        q_off,
        k_off,
        tile_blocks,
        tile_rows,
        scale * LOG2E,
        h,
        *q.stride(),
        *k.stride(),
        *v.stride(),
        *out.stride(),
        *lse.stride(),
        *counts.stride(),
        *indices.stride(),
        *q_off.stride()[:2],
        *k_off.stride()[:2],
        *tile_blocks.stride()[:2],
        BLOCK_M=TILE_M,
        **head_meta(q, input_precision),
    )
    return out, lse
