"""Triton forward kernel for block-sparse attention on `[B, S, H, D]` tensors.

One program computes BLOCK_M query rows of one (batch, head) and walks only the key blocks listed
for its query block, in BLOCK_N-wide sub-tiles, with an online softmax in fp32 (base 2).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from dit_accel.kernels.triton_utils import (
    LOG2E,
    autotune_configs,
    batch_head,
    check_dtype,
    clip_configs,
    dot_operand,
    head_meta,
    key_scores,
    load_rows,
    online_softmax,
    store_lse,
)


@triton.autotune(
    configs=autotune_configs(BLOCK_M=(64, 128), BLOCK_N=(64, 128)),
    key=["HEAD_DIM", "BLOCK_Q", "BLOCK_K", "INPUT_PRECISION"],
    prune_configs_by={
        "early_config_prune": clip_configs(accumulator="BLOCK_D", BLOCK_M="BLOCK_Q", BLOCK_N="BLOCK_K")
    },
)
@triton.jit
def block_sparse_attention_fwd_kernel(
    q,
    k,
    v,
    out,
    lse,
    kv_counts,
    kv_indices,
    qk_scale,
    q_len,
    kv_len,
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
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK_K: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    # A tile never spans two query (key) blocks; with blocks smaller than 16 it is partly masked.
    ROWS: tl.constexpr = BLOCK_M if BLOCK_M < BLOCK_Q else BLOCK_Q
    COLS: tl.constexpr = BLOCK_N if BLOCK_N < BLOCK_K else BLOCK_K
    SUB_N: tl.constexpr = BLOCK_K // COLS
    pid_m = tl.program_id(0)
    b, h = batch_head(H)
    q_block = pid_m * ROWS // BLOCK_Q

    offs_r = tl.arange(0, BLOCK_M)
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_m = pid_m * ROWS + offs_r
    m_mask = offs_m < q_len
    c_mask = offs_c < COLS
    if BLOCK_M > BLOCK_Q:
        m_mask = m_mask & (offs_r < ROWS)
    d_mask = offs_d < HEAD_DIM

    q_tile = load_rows(
        q + b * stride_qb + h * stride_qh, offs_m, offs_d, m_mask, d_mask, stride_qs, stride_qd, UPCAST
    )  # [BM, BD]
    k_base = k + b * stride_kb + h * stride_kh + offs_d[:, None] * stride_kd  # [BD, 1]
    v_base = v + b * stride_vb + h * stride_vh + offs_d[None, :] * stride_vd  # [1, BD]
    n_blocks = tl.load(kv_counts + b * stride_cb + h * stride_ch + q_block * stride_cq)
    idx_ptr = kv_indices + b * stride_ib + h * stride_ih + q_block * stride_iq

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    # One flat loop over (listed block, sub-tile) pairs keeps a single pipelined loop.
    for t in range(0, n_blocks * SUB_N):
        k_block = tl.load(idx_ptr + (t // SUB_N) * stride_ik)
        offs_n = k_block * BLOCK_K + (t % SUB_N) * COLS + offs_c
        n_mask = (offs_n < kv_len) & c_mask
        s = key_scores(
            q_tile, k_base, offs_n, n_mask, d_mask, stride_ks, qk_scale, INPUT_PRECISION, UPCAST
        )  # [BM, BN], log2 units
        # Every listed block has a valid first key, so m_new is finite from the first sub-tile on.
        m_i, l_i, p, alpha = online_softmax(m_i, l_i, s)
        v_tile = tl.load(
            v_base + offs_n[:, None] * stride_vs, mask=n_mask[:, None] & d_mask[None, :], other=0.0
        )
        p = dot_operand(p.to(v.dtype.element_ty), UPCAST)  # rounded to the input dtype, as on the GPU
        acc = tl.dot(p, dot_operand(v_tile, UPCAST), acc * alpha[:, None], input_precision=INPUT_PRECISION)

    # Rows with no key blocks: acc = 0, l_i = 0, m_i = -inf -> out 0 and lse -inf.
    o = acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None]
    o_ptrs = out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_os + offs_d[None, :] * stride_od
    tl.store(o_ptrs, o.to(out.dtype.element_ty), mask=m_mask[:, None] & d_mask[None, :])
    store_lse(lse + b * stride_lb + h * stride_lh + offs_m * stride_ls, m_i, l_i, m_mask)


def block_sparse_attention_fwd(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
    out: torch.Tensor | None = None,
    input_precision: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-sparse attention forward.

    q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]` (any strides), kv_counts int32 `[Bl, Hl, nq]`, kv_indices
    int32 `[Bl, Hl, nq, max_k]` (Bl in {1, B}, Hl in {1, H}); `scale` multiplies q.k.
    Returns (out `[B, Sq, H, D]` in q.dtype, lse float32 `[B, H, Sq]` in natural log; rows with no
    key blocks get zeros and -inf). `out`, if given, is written in place and returned.
    `input_precision` is tl.dot's for fp32 inputs ("ieee", "tf32", ...); None means Triton's default
    (tf32 on NVIDIA unless TRITON_F32_DEFAULT says otherwise).
    """
    check_dtype(q)
    b, sq, h, _ = q.shape
    sk = k.shape[1]
    nq = triton.cdiv(sq, block_q)
    if out is None:
        out = torch.empty_like(q, memory_format=torch.contiguous_format)
    elif out.shape != q.shape or out.dtype != q.dtype or out.device != q.device:
        raise ValueError(
            f"out must be {tuple(q.shape)} {q.dtype} on {q.device}, got {tuple(out.shape)} {out.dtype} "
            f"on {out.device}"
        )
    lse = torch.empty(b, h, sq, dtype=torch.float32, device=q.device)
    counts = kv_counts.expand(b, h, nq)  # stride 0 on broadcast dims
    indices = kv_indices.expand(b, h, nq, kv_indices.shape[-1])

    def grid(meta: dict) -> tuple[int, int]:
        return triton.cdiv(sq, min(meta["BLOCK_M"], block_q)), b * h

    block_sparse_attention_fwd_kernel[grid](
        q,
        k,
        v,
        out,
        lse,
        counts,
        indices,
        scale * LOG2E,
        sq,
        sk,
        h,
        *q.stride(),
        *k.stride(),
        *v.stride(),
        *out.stride(),
        *lse.stride(),
        *counts.stride(),
        *indices.stride(),
        BLOCK_Q=block_q,
        BLOCK_K=block_k,
        **head_meta(q, input_precision),
    )
    return out, lse
