"""Triton kernels for the block attention mass on `[B, S, H, D]` tensors.

`attention_lse_fwd_kernel` computes each query row's logsumexp with an online softmax (no values);
`block_attention_mass_fwd_kernel` then walks every key block once per query block and, with the LSE
known, sums exact probabilities: one pass per kernel, no score matrix in memory.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

_LOG2E = 1.4426950408889634
_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def _prune(configs: list[triton.Config], clip: dict[str, str], args: dict) -> list[triton.Config]:
    """Clip each tile size named in `clip` to the block argument it maps to, drop duplicates; one config
    when interpreting, since benchmarking every config on the CPU interpreter takes minutes."""
    seen, pruned = set(), []
    for cfg in configs:
        sizes = {name: min(cfg.kwargs[name], args[bound]) for name, bound in clip.items()}
        key = (*sizes.values(), cfg.num_warps, cfg.num_stages)
        if key not in seen:
            seen.add(key)
            pruned.append(triton.Config({**cfg.kwargs, **sizes}, cfg.num_warps, cfg.num_stages))
    return pruned[:1] if _interpreting() else pruned


def _prune_mass(configs: list[triton.Config], named_args: dict, **kwargs) -> list[triton.Config]:
    return _prune(configs, {"BLOCK_N": "BLOCK_K"}, {**named_args, **kwargs})


def _prune_lse(configs: list[triton.Config], named_args: dict, **kwargs) -> list[triton.Config]:
    return _prune(configs, {}, {**named_args, **kwargs})


@triton.jit
def _dot_operand(x, UPCAST: tl.constexpr):
    return x.to(tl.float32) if UPCAST else x


@triton.autotune(
    configs=[
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=w, num_stages=s)
        for bm in (64, 128)
        for bn in (64, 128)
        for w in (4, 8)
        for s in (2, 3)
    ],
    key=["HEAD_DIM", "INPUT_PRECISION"],
    prune_configs_by={"early_config_prune": _prune_lse},
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
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_mask = offs_m < q_len
    d_mask = offs_d < HEAD_DIM

    q_ptrs = q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd
    q_tile = _dot_operand(
        tl.load(q_ptrs, mask=m_mask[:, None] & d_mask[None, :], other=0.0), UPCAST
    )  # [BM, BD]
    k_base = k + b * stride_kb + h * stride_kh + offs_d[:, None] * stride_kd  # [BD, 1]

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    for start in range(0, kv_len, BLOCK_N):
        cols = start + offs_n
        n_mask = cols < kv_len
        k_tile = tl.load(
            k_base + cols[None, :] * stride_ks, mask=d_mask[:, None] & n_mask[None, :], other=0.0
        )
        k_tile = _dot_operand(k_tile, UPCAST)  # [BD, BN]
        s = tl.dot(q_tile, k_tile, input_precision=INPUT_PRECISION) * qk_scale  # [BM, BN], log2 units
        s = tl.where(n_mask[None, :], s, float("-inf"))
        # Every tile has a valid first key, so m_new is finite from the first tile on.
        m_new = tl.maximum(m_i, tl.max(s, 1))
        l_i = l_i * tl.exp2(m_i - m_new) + tl.sum(tl.exp2(s - m_new[:, None]), 1)
        m_i = m_new

    lse_row = (m_i + tl.log2(l_i)) * 0.6931471805599453  # log2 -> natural log
    tl.store(lse + b * stride_lb + h * stride_lh + offs_m * stride_ls, lse_row, mask=m_mask)


@triton.autotune(
    configs=[
        triton.Config({"BLOCK_N": bn}, num_warps=w, num_stages=s)
        for bn in (64, 32, 128)
        for w in (4, 8)
        for s in (2, 3)
    ],
    key=["HEAD_DIM", "BLOCK_Q", "BLOCK_K", "INPUT_PRECISION"],
    prune_configs_by={"early_config_prune": _prune_mass},
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
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_Q + tl.arange(0, BLOCK_Q)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    m_mask = offs_m < q_len
    d_mask = offs_d < HEAD_DIM

    q_ptrs = q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd
    q_tile = _dot_operand(
        tl.load(q_ptrs, mask=m_mask[:, None] & d_mask[None, :], other=0.0), UPCAST
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
            k_tile = tl.load(
                k_base + cols[None, :] * stride_ks, mask=d_mask[:, None] & n_mask[None, :], other=0.0
            )
            k_tile = _dot_operand(k_tile, UPCAST)  # [BD, BN]
            s = tl.dot(q_tile, k_tile, input_precision=INPUT_PRECISION) * qk_scale  # [BQ, BN]
            s = tl.where(n_mask[None, :], s, float("-inf"))
            acc += tl.sum(tl.exp2(s - row_lse[:, None]), 1)
        tl.store(out_ptr + j * stride_mk, tl.sum(acc, 0) / n_rows)


def _upcast(q: torch.Tensor) -> bool:
    # The interpreter (triton 3.9) multiplies bf16 bit patterns in tl.dot; an fp32 dot of bf16 values
    # gives what the GPU's bf16 dot with fp32 accumulation gives.
    return _interpreting() and q.dtype == torch.bfloat16


def _precision(input_precision: str | None) -> str | None:
    # Resolved here so the choice is part of the compiled kernel's key.
    return input_precision or os.environ.get("TRITON_F32_DEFAULT")


def attention_lse_fwd(
    q: torch.Tensor, k: torch.Tensor, scale: float, input_precision: str | None = None
) -> torch.Tensor:
    """Row logsumexp of `scale * q.k` over all keys: q `[B, Sq, H, D]`, k `[B, Sk, H, D]` (any
    strides) -> float32 `[B, H, Sq]`, natural log."""
    if q.dtype not in _DTYPES:
        raise ValueError(f"the triton backend supports float16, bfloat16 and float32, got {q.dtype}")
    b, sq, h, d = q.shape
    lse = torch.empty(b, h, sq, dtype=torch.float32, device=q.device)

    def grid(meta: dict) -> tuple[int, int]:
        return triton.cdiv(sq, meta["BLOCK_M"]), b * h

    attention_lse_fwd_kernel[grid](
        q,
        k,
        lse,
        scale * _LOG2E,
        sq,
        k.shape[1],
        h,
        *q.stride(),
        *k.stride(),
        *lse.stride(),
        HEAD_DIM=d,
        BLOCK_D=max(16, triton.next_power_of_2(d)),
        INPUT_PRECISION=_precision(input_precision),
        UPCAST=_upcast(q),
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
    if q.dtype not in _DTYPES:
        raise ValueError(f"the triton backend supports float16, bfloat16 and float32, got {q.dtype}")
    b, sq, h, d = q.shape
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
        scale * _LOG2E,
        sq,
        sk,
        h,
        nk,
        *q.stride(),
        *k.stride(),
        *lse.stride(),
        *mass.stride(),
        HEAD_DIM=d,
        BLOCK_D=max(16, triton.next_power_of_2(d)),
        BLOCK_Q=block_q,
        BLOCK_K=block_k,
        INPUT_PRECISION=_precision(input_precision),
        UPCAST=_upcast(q),
    )
    return mass
