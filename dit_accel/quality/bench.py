"""Attention quality harness: sparse methods vs dense attention and vs an oracle, per head type.

The oracle knows the exact block attention mass (in the natural token order) and keeps, in every
query block, the forced blocks (text, diagonal) and the key blocks holding the most mass, with as
many blocks per head as the method's plan: about the best any block selection without reordering
can do at that budget.
"""

from __future__ import annotations

import math

import torch

from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.kernels.block_mass import block_attention_mass
from dit_accel.layout import BlockLayout, num_blocks
from dit_accel.methods import Adaptive, Draft, Method, Radial, Reordered, Window
from dit_accel.patterns.text import keep_blocks
from dit_accel.quality.synthetic import HEAD_TYPES, synthetic_attention

DEFAULT_GRID = TokenGrid(8, 16, 16, text_len=32)


def default_methods(density: float = 0.2) -> dict[str, Method]:
    """The data-dependent methods at about `density` on DEFAULT_GRID (Adaptive through its mass), and
    the static ones: Radial at its default, Window sized to about 0.18 there."""
    return {
        f"draft(density={density})": Draft(density=density),
        "adaptive(mass=0.75)": Adaptive(mass=0.75),
        f"reordered(axes, density={density})": Reordered("axes", density=density),
        f"reordered(semantic, density={density})": Reordered("semantic", density=density),
        "radial()": Radial(),
        "window(5, 6, 6)": Window(window=(5, 6, 6)),
    }


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Full softmax attention in float64: q/k/v `[B, S, H, D]` -> `[B, S, H, D]`."""
    qf, kf, vf = (t.double().transpose(1, 2) for t in (q, k, v))
    probs = torch.softmax(qf @ kf.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return (probs @ vf).transpose(1, 2)


def oracle_layout(
    mass: torch.Tensor, blocks: torch.Tensor, keep: torch.Tensor, seq_len: int, block: int
) -> BlockLayout:
    """The best natural-order selection with `blocks` `[B|1, H]` kept block pairs per head.

    mass `[B, H, nq, nk]` exact block mass; keep bool `[1, 1, nq, nk]` forced blocks (text rows and
    columns, diagonal) as every method keeps them. Rows forced whole stay whole; every other row
    keeps its forced blocks plus its highest-mass blocks, the same count in every row, so the total
    is about `blocks`.
    """
    nq, nk = mass.shape[-2:]
    whole = keep.all(-1).sum()  # rows forced whole (text queries)
    count = ((blocks.to(mass.device) - whole * nk) / (nq - whole)).round().clamp(1, nk)  # [B|1, H]
    # As in select_blocks: forced blocks rank first, then the rest by mass.
    rank = torch.where(keep, mass + 2.0, mass).argsort(-1, descending=True).argsort(-1)
    mask = (rank < count.unsqueeze(-1).unsqueeze(-1)) | keep
    return BlockLayout.from_mask(mask, seq_len, seq_len, block, block)


def rel_l2(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref||, out in float64 against the float64 reference."""
    return float((out.double() - ref).norm() / ref.norm())


def run_quality(
    methods: dict[str, Method] | None = None,
    grid: TokenGrid = DEFAULT_GRID,
    seed: int = 0,
    heads_per_type: int = 2,
    head_dim: int = 64,
) -> list[dict]:
    """Run every method on `synthetic_attention(grid, ...)` and report one row per (method, head type,
    plus "all"): density, relative L2 error of the output vs dense attention, and the oracle's
    density and error at the method's per-head density (`ratio` = error / oracle error)."""
    data = synthetic_attention(grid, heads_per_type=heads_per_type, head_dim=head_dim, seed=seed)
    q, k, v = data.q, data.k, data.v
    ref = reference_attention(q, k, v)
    groups = {kind: [h for h, t in enumerate(data.head_types) if t == kind] for kind in HEAD_TYPES}
    groups["all"] = list(range(len(data.head_types)))
    exact: dict[int, torch.Tensor] = {}
    rows = []
    for name, method in (methods or default_methods()).items():
        plan = method.plan(q, k, grid)
        out = plan.run(q, k, v)
        fixed = isinstance(plan.layout, BlockLayout)
        # Cluster-sized blocks (VarBlockLayout) are judged against an oracle of 64-token blocks that
        # computes as many token pairs.
        block = plan.layout.block_q if fixed else 64
        if block not in exact:
            exact[block] = block_attention_mass(q, k, block, block)
        if fixed:
            blocks = plan.layout.to_mask().sum((-1, -2))
        else:
            blocks = plan.layout.head_density() * num_blocks(grid.seq_len, block) ** 2
        # Layouts may broadcast over heads (static methods): one count per head either way.
        blocks = blocks.expand(-1, q.shape[2])
        oracle = oracle_layout(exact[block], blocks, keep_blocks(grid, block), grid.seq_len, block)
        oracle_out = block_sparse_attention(q, k, v, oracle)
        density = plan.layout.head_density().expand(-1, q.shape[2]).mean(0)
        oracle_density = oracle.head_density().mean(0)
        for kind, heads in groups.items():
            error = rel_l2(out[:, :, heads], ref[:, :, heads])
            oracle_error = rel_l2(oracle_out[:, :, heads], ref[:, :, heads])
            rows.append(
                {
                    "method": name,
                    "heads": kind,
                    "density": float(density[heads].mean()),
                    "error": error,
                    "oracle_density": float(oracle_density[heads].mean()),
                    "oracle_error": oracle_error,
                    "ratio": error / oracle_error,
                }
            )
    return rows


def quality_table(rows: list[dict]) -> str:
    """Markdown table of `run_quality` rows."""
    lines = [
        "| method | heads | density | rel. L2 error | oracle density | oracle error | error / oracle |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['heads']} | {r['density']:.3f} | {r['error']:.4f} | "
            f"{r['oracle_density']:.3f} | {r['oracle_error']:.4f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines)
