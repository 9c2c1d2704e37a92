"""What the Triton kernels share: autotune configs and their pruning, the launch arguments every kernel
takes, and `@triton.jit` helpers for the steps they have in common (all on `[B, S, H, D]` tensors)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import torch
import triton
import triton.language as tl

from dit_accel.kernels.backends import triton_interpreting

LOG2E = 1.4426950408889634
_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def autotune_configs(**tiles: tuple[int, ...]) -> list[triton.Config]:
    """Every combination of the given tile sizes (e.g. BLOCK_N=(64, 128)) with 4 or 8 warps and 2 or 3
    stages, the first tile size varying slowest."""
    return [
        triton.Config(dict(zip(tiles, sizes, strict=True)), num_warps=w, num_stages=s)
        for sizes in itertools.product(*tiles.values())
        for w in (4, 8)
        for s in (2, 3)
    ]


# fp32 tile values per thread (accumulator + scores) that still fit the registers with the operands
# and addresses: compiled for sm_80 and sm_90 at head dim 64 and 128 (benchmarks/compile_report.py),
# every attention config above this spilled and every one at or below it did not, except 64 x 64
# tiles on 8 warps (8 rows of MMA per warp), which ptxas spilled on sm_80 at block 64.
MAX_TILE_VALUES_PER_THREAD = 96


def fits_registers(cfg: triton.Config, accumulator_cols: int) -> bool:
    """Whether cfg's fp32 accumulator `[BLOCK_M, accumulator_cols]` and scores `[BLOCK_M, BLOCK_N]`
    stay within MAX_TILE_VALUES_PER_THREAD values per thread, and 8 warps get more than 64 x 64 scores."""
    rows, cols = cfg.kwargs["BLOCK_M"], cfg.kwargs["BLOCK_N"]
    if cfg.num_warps >= 8 and rows * cols <= 64 * 64:
        return False
    return rows * (accumulator_cols + cols) <= MAX_TILE_VALUES_PER_THREAD * 32 * cfg.num_warps


def clip_to_blocks(configs: list[triton.Config], args: dict, bounds: dict[str, str]) -> list[triton.Config]:
    """Each tile size named in `bounds` clipped to the block argument it maps to (BLOCK_N="BLOCK_K":
    BLOCK_N <= BLOCK_K, and >= 16 for tl.dot), duplicates dropped."""
    seen, clipped = set(), []
    for cfg in configs:
        sizes = {
            **cfg.kwargs,
            **{name: max(16, min(cfg.kwargs[name], args[bound])) for name, bound in bounds.items()},
        }
        key = (*sizes.items(), cfg.num_warps, cfg.num_stages)
        if key not in seen:
            seen.add(key)
            clipped.append(triton.Config(sizes, cfg.num_warps, cfg.num_stages))
    return clipped


def clip_configs(accumulator: str | None = None, **bounds: str) -> Callable[..., list[triton.Config]]:
    """An `early_config_prune`: `clip_to_blocks(bounds)`, then, with `accumulator` (the argument giving
    the accumulator's columns, e.g. "BLOCK_D"), only the configs that `fits_registers`. One config when
    interpreting, since benchmarking every config on the CPU interpreter takes minutes, and with
    `DIT_ACCEL_AUTOTUNE=0` (native GPU tests: one compile per kernel key instead of one per config).
    The returned function's `bounds` attribute holds `bounds`."""

    def prune(configs: list[triton.Config], named_args: dict, **kwargs: Any) -> list[triton.Config]:
        args = {**named_args, **kwargs}
        pruned = clip_to_blocks(configs, args, bounds)
        if accumulator is not None:
            pruned = [cfg for cfg in pruned if fits_registers(cfg, args[accumulator])]
        return pruned[:1] if triton_interpreting() or os.environ.get("DIT_ACCEL_AUTOTUNE") == "0" else pruned

    prune.bounds = bounds
    return prune


def check_dtype(q: torch.Tensor) -> None:
    if q.dtype not in _DTYPES:
        raise ValueError(f"the triton backend supports float16, bfloat16 and float32, got {q.dtype}")


def head_meta(q: torch.Tensor, input_precision: str | None) -> dict[str, Any]:
    """The constexpr launch arguments every kernel here takes, for q `[B, S, H, D]`."""
    d = q.shape[-1]
    return {
        "HEAD_DIM": d,
        "BLOCK_D": max(16, triton.next_power_of_2(d)),
        # Resolved here so the choice is part of the compiled kernel's key.
        "INPUT_PRECISION": input_precision or os.environ.get("TRITON_F32_DEFAULT"),
        # The interpreter (triton 3.9) multiplies bf16 bit patterns in tl.dot; an fp32 dot of bf16
        # values gives what the GPU's bf16 dot with fp32 accumulation gives.
        "UPCAST": triton_interpreting() and q.dtype == torch.bfloat16,
    }


@triton.jit
def dot_operand(x, UPCAST: tl.constexpr):
    return x.to(tl.float32) if UPCAST else x


@triton.jit
def batch_head(H):
    """(batch, head) of this program: grid axis 1 runs over B * H."""
    pid_bh = tl.program_id(1)
    return (pid_bh // H).to(tl.int64), (pid_bh % H).to(tl.int64)


@triton.jit
def load_rows(base, offs_m, offs_d, m_mask, d_mask, stride_s, stride_d, UPCAST: tl.constexpr):
    """Rows `offs_m` of the `[S, D]` head at `base` as a tl.dot operand, zeros outside the masks: [BM, BD]."""
    ptrs = base + offs_m[:, None] * stride_s + offs_d[None, :] * stride_d
    return dot_operand(tl.load(ptrs, mask=m_mask[:, None] & d_mask[None, :], other=0.0), UPCAST)


@triton.jit
def key_scores(
    q_tile,
    k_base,
    offs_n,
    n_mask,
    d_mask,
    stride_ks,
    qk_scale,
    INPUT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
):
    """Scores `[BM, BN]` of q_tile `[BM, BD]` against keys `offs_n` (k_base: `[BD, 1]` pointers) times
    qk_scale; -inf outside n_mask."""
    k_tile = tl.load(k_base + offs_n[None, :] * stride_ks, mask=d_mask[:, None] & n_mask[None, :], other=0.0)
    s = tl.dot(q_tile, dot_operand(k_tile, UPCAST), input_precision=INPUT_PRECISION) * qk_scale
    return tl.where(n_mask[None, :], s, float("-inf"))


@triton.jit
def online_softmax(m_i, l_i, s):
    """One tile `s` `[BM, BN]` (log2 units) of an online softmax: the new row max and row sum, the tile's
    p = 2^(s - max) and alpha, the old sum's rescale."""
    m_new = tl.maximum(m_i, tl.max(s, 1))
    p = tl.exp2(s - m_new[:, None])
    alpha = tl.exp2(m_i - m_new)
    return m_new, l_i * alpha + tl.sum(p, 1), p, alpha


@triton.jit
def store_lse(ptrs, m_i, l_i, m_mask):
    """Row logsumexp in natural log from the online softmax's max and sum (log2 units); -inf where l_i = 0."""
    tl.store(ptrs, (m_i + tl.log2(l_i)) * 0.6931471805599453, mask=m_mask)
