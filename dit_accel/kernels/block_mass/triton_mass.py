"""Triton kernels for the block attention mass on `[B, S, H, D]` tensors.

`attention_lse_fwd_kernel` computes each query row's logsumexp with an online softmax (no values);
`block_attention_mass_fwd_kernel` then walks every key block once per query block and, with the LSE
known, sums exact probabilities: one pass per kernel, no score matrix in memory.
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
    head_meta,
    key_scores,
    load_rows,
    online_softmax,
    store_lse,
)


@triton.autotune(
    configs=autotune_configs(BLOCK_M=(64, 128), BLOCK_N=(64, 128)),
    key=["HEAD_DIM", "INPUT_PRECISION"],
    prune_configs_by={"early_config_prune": clip_configs()},
)
@triton.jit
def attention_lse_fwd_kernel(
    q,
    k,
    lse,
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
    stride_lb,
    stride_lh,
    stride_ls,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    pid_m = tl.program_id(0)
    b, h = batch_head(H)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_mask = offs_m < q_len
    d_mask = offs_d < HEAD_DIM

    q_tile = load_rows(
        q + b * stride_qb + h * stride_qh, offs_m, offs_d, m_mask, d_mask, stride_qs, stride_qd, UPCAST
    )  # [BM, BD]
    k_base = k + b * stride_kb + h * stride_kh + offs_d[:, None] * stride_kd  # [BD, 1]

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    for start in range(0, kv_len, BLOCK_N):
        cols = start + offs_n
        n_mask = cols < kv_len
        s = key_scores(
            q_tile, k_base, cols, n_mask, d_mask, stride_ks, qk_scale, INPUT_PRECISION, UPCAST
        )  # [BM, BN], log2 units
        # Every tile has a valid first key, so m_i is finite from the first tile on.
        m_i, l_i, _, _ = online_softmax(m_i, l_i, s)

    store_lse(lse + b * stride_lb + h * stride_lh + offs_m * stride_ls, m_i, l_i, m_mask)


@triton.autotune(
    configs=autotune_configs(BLOCK_N=(64, 32, 128)),
    key=["HEAD_DIM", "BLOCK_Q", "BLOCK_K", "INPUT_PRECISION"],
    prune_configs_by={"early_config_prune": clip_configs(BLOCK_N="BLOCK_K")},
)
@triton.jit
def block_attention_mass_fwd_kernel(
    q,
    k,
    lse,
    mass,
    qk_scale,
    q_len,
    kv_len,
    H,
    n_kv_blocks,
    stride_qb,
    stride_qs,
    stride_qh,
    stride_qd,
    stride_kb,
    stride_ks,
    stride_kh,
    stride_kd,
    stride_lb,
    stride_lh,
    stride_ls,
    stride_mb,
    stride_mh,
    stride_mq,
    stride_mk,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK_K: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    # One program holds one whole query block; key blocks are walked in BLOCK_N-wide sub-tiles.
    SUB_N: tl.constexpr = BLOCK_K // BLOCK_N
    pid_m = tl.program_id(0)
    b, h = batch_head(H)
    offs_m = pid_m * BLOCK_Q + tl.arange(0, BLOCK_Q)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_mask = offs_m < q_len
    d_mask = offs_d < HEAD_DIM

    q_tile = load_rows(
        q + b * stride_qb + h * stride_qh, offs_m, offs_d, m_mask, d_mask, stride_qs, stride_qd, UPCAST
    )  # [BQ, BD]
    # Padded rows get lse = +inf, so their probabilities are exactly 0.
    row_lse = tl.load(
        lse + b * stride_lb + h * stride_lh + offs_m * stride_ls, mask=m_mask, other=float("inf")
    )
    row_lse = row_lse * 1.4426950408889634  # natural log -> log2, [BQ]
    k_base = k + b * stride_kb + h * stride_kh + offs_d[:, None] * stride_kd  # [BD, 1]
    out_ptr = mass + b * stride_mb + h * stride_mh + pid_m * stride_mq
    n_rows = tl.minimum(q_len - pid_m * BLOCK_Q, BLOCK_Q).to(tl.float32)

    for j in range(0, n_kv_blocks):
        acc = tl.zeros([BLOCK_Q], dtype=tl.float32)
        for t in tl.static_range(SUB_N):
            cols = j * BLOCK_K + t * BLOCK_N + offs_n
            n_mask = cols < kv_len
            s = key_scores(
                q_tile, k_base, cols, n_mask, d_mask, stride_ks, qk_scale, INPUT_PRECISION, UPCAST
            )  # [BQ, BN]
            acc += tl.sum(tl.exp2(s - row_lse[:, None]), 1)
        tl.store(out_ptr + j * stride_mk, tl.sum(acc, 0) / n_rows)


def attention_lse_fwd(
    q: torch.Tensor, k: torch.Tensor, scale: float, input_precision: str | None = None
) -> torch.Tensor:
    """Row logsumexp of `scale * q.k` over all keys: q `[B, Sq, H, D]`, k `[B, Sk, H, D]` (any
    strides) -> float32 `[B, H, Sq]`, natural log."""
    check_dtype(q)
    b, sq, h, _ = q.shape
    lse = torch.empty(b, h, sq, dtype=torch.float32, device=q.device)

    def grid(meta: dict) -> tuple[int, int]:
        return triton.cdiv(sq, meta["BLOCK_M"]), b * h

    attention_lse_fwd_kernel[grid](
        q,
        k,
        lse,
        scale * LOG2E,
        sq,
        k.shape[1],
        h,
        *q.stride(),
        *k.stride(),
        *lse.stride(),
        **head_meta(q, input_precision),
    )
    return lse


def block_attention_mass_fwd(
    q: torch.Tensor,
    k: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
    lse: torch.Tensor | None = None,
    input_precision: str | None = None,
) -> torch.Tensor:
    """Block attention mass: q `[B, Sq, H, D]`, k `[B, Sk, H, D]` (any strides), block sizes powers of
    two >= 16, optional lse float32 `[B, H, Sq]` of the same `scale` -> float32 `[B, H, nq, nk]`.
    Without `lse` it is computed first by `attention_lse_fwd` (a second pass over the keys).
    `input_precision` is tl.dot's for fp32 inputs; None means Triton's default."""
    check_dtype(q)
    b, sq, h, _ = q.shape
    sk = k.shape[1]
    if lse is None:
        lse = attention_lse_fwd(q, k, scale, input_precision)
    nq, nk = triton.cdiv(sq, block_q), triton.cdiv(sk, block_k)
    mass = torch.empty(b, h, nq, nk, dtype=torch.float32, device=q.device)
    block_attention_mass_fwd_kernel[(nq, b * h)](
        q,
        k,
        lse,
        mass,
        scale * LOG2E,
        sq,
        sk,
        h,
        nk,
        *q.stride(),
        *k.stride(),
        *lse.stride(),
        *mass.stride(),
        BLOCK_Q=block_q,
        BLOCK_K=block_k,
        **head_meta(q, input_precision),
    )
    return mass
