"""Our methods next to the papers' own selections (`dit_accel.quality.references`), for
`dit-accel bench --quality` and benchmarks/semantic.py.

- Semantic reordering vs Sparse VideoGen 2's selection: rel. L2 error of the output against dense at
  the density SVG2 reaches (ours given that density), on the same q/k/v.
- Radial vs radial-attention's mask: token-pair density at the reference's shapes and decays.
"""

from __future__ import annotations

import time

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods import Radial, Reordered
from dit_accel.methods.base import Plan
from dit_accel.quality.bench import reference_attention, rel_l2
from dit_accel.quality.references import radial_reference_mask, svg2_layout
from dit_accel.quality.synthetic import SyntheticAttention

# The structured benchmark of benchmarks/semantic.py: one head of each type on 9 x 32 x 48 tokens, where
# SVG2's cluster counts scaled from Wan 720p give clusters of its own size.
SVG2_GRID = TokenGrid(9, 32, 48)
# (top_p, min_kc_ratio): SVG2's default and top-p without the key-cluster floor.
SVG2_SETTINGS = ((0.9, 0.1), (0.95, 0.0))
# SVG2's cluster counts at Wan 720p (75,600 tokens): 300 query and 1,000 key clusters.
SVG2_TOKENS_PER_CLUSTER = (75_600 / 300, 75_600 / 1_000)
# name -> (frames, height, width, decay, sink): the shapes and decays radial-attention runs.
RADIAL_SHAPES = {
    "Wan 2.1 480p": (21, 30, 52, 0.2, True),
    "Wan 2.1 720p": (21, 45, 80, 0.2, True),
    "HunyuanVideo 720p": (30, 48, 80, 0.95, False),
}


def svg2_counts(grid: TokenGrid) -> tuple[int, int]:
    """SVG2's (query, key) cluster counts scaled to `grid`'s video tokens."""
    q, k = (max(1, round(grid.video_len / t)) for t in SVG2_TOKENS_PER_CLUSTER)
    return q, k


def svg2_comparison(
    data: SyntheticAttention, settings: tuple[tuple[float, float], ...] = SVG2_SETTINGS
) -> list[dict]:
    """Per SVG2 setting: its density and error on `data`, and `Reordered("semantic")` at that density.
    Seconds are plan + run of each."""
    q, k, v, grid = data.q, data.k, data.v, data.grid
    ref = reference_attention(q, k, v)
    rows = []
    qc, kc = svg2_counts(grid)
    for top_p, min_kc_ratio in settings:
        start = time.perf_counter()
        layout, q_perm, k_perm = svg2_layout(q, k, grid, qc, kc, top_p=top_p, min_kc_ratio=min_kc_ratio)
        svg2 = Plan(layout=layout, grid=grid, permutation=q_perm, key_permutation=k_perm)
        svg2_error = rel_l2(svg2.run(q, k, v), ref)
        middle = time.perf_counter()
        ours = Reordered("semantic", density=round(svg2.density, 4)).plan(q, k, grid)
        ours_error = rel_l2(ours.run(q, k, v), ref)
        rows.append(
            {
                "setting": f"top_p={top_p}, min_kc_ratio={min_kc_ratio}",
                "density": svg2.density,
                "svg2_error": svg2_error,
                "svg2_seconds": middle - start,
                "ours_density": ours.density,
                "ours_error": ours_error,
                "ours_seconds": time.perf_counter() - middle,
            }
        )
    return rows


def radial_comparison(shapes: dict[str, tuple[int, int, int, float, bool]] = RADIAL_SHAPES) -> list[dict]:
    """Per shape: the reference mask's density and `Radial`'s at the same decay and sink (blocks of 128)."""
    rows = []
    for name, (frames, height, width, decay, sink) in shapes.items():
        reference = radial_reference_mask(frames, height * width, decay, sink).double().mean().item()
        grid = TokenGrid(frames, height, width)
        tokens = torch.empty(1, grid.seq_len, 1, 1)
        ours = Radial(decay=decay, sink=sink, block_size=128).plan(tokens, tokens, grid).density
        rows.append(
            {
                "shape": f"{name} ({frames}x{height}x{width})",
                "decay": decay,
                "sink": sink,
                "reference_density": reference,
                "ours_density": ours,
            }
        )
    return rows


def papers_table(svg2: list[dict], radial: list[dict]) -> str:
    """Markdown tables of `svg2_comparison` and `radial_comparison` rows."""
    lines = [
        "| SVG2 setting | density | SVG2 selection error | ours (semantic) error | ours / SVG2 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in svg2:
        lines.append(
            f"| {r['setting']} | {r['density']:.3f} | {r['svg2_error']:.4f} | {r['ours_error']:.4f} | "
            f"{r['ours_error'] / r['svg2_error']:.2f} |"
        )
    lines += [
        "",
        "| shape | decay | sink | radial-attention density | ours (Radial) | ours / reference |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in radial:
        lines.append(
            f"| {r['shape']} | {r['decay']} | {'yes' if r['sink'] else 'no'} | "
            f"{r['reference_density']:.3f} | {r['ours_density']:.3f} | "
            f"{r['ours_density'] / r['reference_density']:.3f} |"
        )
    return "\n".join(lines)
