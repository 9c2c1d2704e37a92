"""Shared test utilities: random layouts and relative errors."""

from __future__ import annotations

import torch

from dit_accel.layout import BlockLayout, num_blocks


def rel_l2(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| in float64; NaN anywhere gives inf."""
    out, ref = out.double(), ref.double()
    if not torch.isfinite(out).all():
        return float("inf")
    return float((out - ref).norm() / ref.norm().clamp_min(1e-30))


def random_layout(
    batch: int,
    heads: int,
    q_len: int,
    kv_len: int,
    block_q: int,
    block_k: int,
    density: float,
    generator: torch.Generator,
    empty_rows: int = 0,
) -> BlockLayout:
    """A random layout with about `density` of the blocks kept, at least one per row except the first
    `empty_rows` query blocks of head 0, which are empty."""
    nq, nk = num_blocks(q_len, block_q), num_blocks(kv_len, block_k)
    mask = torch.rand(batch, heads, nq, nk, generator=generator) < density
    first = torch.randint(0, nk, (batch, heads, nq, 1), generator=generator)
    mask.scatter_(-1, first, True)
    mask[:, 0, :empty_rows] = False
    return BlockLayout.from_mask(mask, q_len, kv_len, block_q, block_k)
