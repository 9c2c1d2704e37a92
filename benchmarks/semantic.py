"""Semantic reordering vs Sparse VideoGen 2's own selection: rel. L2 error of the attention output
against dense attention at equal token-pair density, on structured synthetic heads (spatial,
temporal, semantic) at 9x32x48 and on held-out data (another seed and grid), vs the semantic
reordering before cluster-sized blocks at fixed densities, plus what cluster sizes cost on the CPU path.

    python benchmarks/semantic.py [--quick]

Writes benchmarks/results/semantic-cpu.json and .md (strict JSON, `dit_accel.results`). The "old"
rows come from benchmarks/results/semantic-old-cpu.json (`benchmarks/semantic_fixed.py` run on the code
of that time). Torch runs on one thread (a shared machine).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from semantic_fixed import DATASETS, MACHINE, RESULTS, dataset, fixed_density_rows, rel_l2, row

from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.methods import Reordered
from dit_accel.methods.base import Plan
from dit_accel.quality.references import svg2_layout
from dit_accel.results import write_result
from dit_accel.var_layout import VarBlockLayout

# SVG2 settings (top_p, min_kc_ratio): its default (0.9, 0.1), top_p without the floor and denser
# floors, which together span densities of about 0.05 to 0.3.
SVG2_SETTINGS = ((0.8, 0.0), (0.9, 0.0), (0.9, 0.1), (0.95, 0.0), (0.98, 0.0), (0.9, 0.2), (0.9, 0.3))
# SVG2's cluster counts at Wan 720p (75,600 tokens): 300 query and 1,000 key clusters.
SVG2_TOKENS_PER_CLUSTER = (75_600 / 300, 75_600 / 1_000)


def svg2_counts(grid: TokenGrid) -> tuple[int, int]:
    """SVG2's (query, key) cluster counts scaled to `grid`."""
    return tuple(max(1, round(grid.video_len / t)) for t in SVG2_TOKENS_PER_CLUSTER)


def svg2_rows(name: str, quick: bool) -> list[dict]:
    """SVG2's selection at each setting and ours at the density it reached, on data set `name`."""
    grid, q, k, v, ref = dataset(name)
    rows = []
    qc, kc = svg2_counts(grid)
    for top_p, min_kc_ratio in SVG2_SETTINGS[:2] if quick else SVG2_SETTINGS:
        start = time.perf_counter()
        layout, q_perm, k_perm = svg2_layout(q, k, grid, qc, kc, top_p=top_p, min_kc_ratio=min_kc_ratio)
        plan = Plan(layout=layout, grid=grid, permutation=q_perm, key_permutation=k_perm)
        error = rel_l2(plan.run(q, k, v), ref)
        label = f"svg2(top_p={top_p}, min_kc_ratio={min_kc_ratio})"
        rows.append(row(name, label, plan.density, error, time.perf_counter() - start))
        start = time.perf_counter()
        ours = Reordered("semantic", density=round(plan.density, 4)).plan(q, k, grid)
        error = rel_l2(ours.run(q, k, v), ref)
        rows.append(
            row(name, f"ours(density={plan.density:.3f})", ours.density, error, time.perf_counter() - start)
        )
    return rows


def cluster_cost(quick: bool) -> list[dict]:
    """Seconds of the torch CPU path at one density for blocks of one size (the cost of small clusters)."""
    gen = torch.Generator().manual_seed(0)
    s, h, d = (4096, 2, 64) if quick else (13_824, 4, 64)
    q, k, v = (torch.randn(1, s, h, d, generator=gen) for _ in range(3))
    rows = []
    for size in (8, 16, 32, 64, 128, 256):
        n = s // size
        mask = torch.rand(1, h, n, n, generator=gen) < 0.15
        sizes = torch.full((n,), size)
        sizes[-1] += s - size * n
        layout = VarBlockLayout.from_sizes(mask, sizes, sizes)
        block_sparse_attention(q, k, v, layout)  # warm-up
        start = time.perf_counter()
        block_sparse_attention(q, k, v, layout)
        rows.append(
            {"cluster_size": size, "density": layout.density(), "seconds": time.perf_counter() - start}
        )
        print(f"clusters of {size:3d} tokens: density {rows[-1]['density']:.3f}, {rows[-1]['seconds']:.3f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points, nothing written")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = [r for name in DATASETS for r in svg2_rows(name, args.quick)]
    if not args.quick:
        rows += fixed_density_rows("ours")
    old_path = RESULTS / "semantic-old-cpu.json"
    old = json.loads(old_path.read_text())["rows"] if old_path.exists() else []
    report = {
        "device": "cpu",
        "machine": MACHINE,
        "quality": rows,
        "old": old,
        "cost": cluster_cost(args.quick),
    }
    if not args.quick:
        write_result(report, RESULTS, stem="semantic", markdown=markdown(report))


def _error_at(rows: list[dict], dataset: str, method: str) -> dict | None:
    return next((r for r in rows if r["dataset"] == dataset and r["method"] == method), None)


def markdown(report: dict) -> str:
    """The report as tables: SVG2 vs ours at equal density, old vs new at fixed densities, cluster cost."""
    quality, old = report["quality"], report["old"]
    lines = [
        "# Semantic reordering vs Sparse VideoGen 2 (CPU)",
        "",
        f"Machine: {report['machine']}. Rel. L2 error of the attention output vs dense (float64); synthetic "
        "heads, one each of spatial, temporal, semantic (`dit_accel.quality.synthetic`), head dim 64. "
        "structured: 9x32x48 seed 0; held-out: 8x30x40 seed 1. SVG2's selection "
        "(`dit_accel.quality.references.svg2_layout`) with its cluster counts scaled from Wan 720p "
        "(300 q / 1,000 k at 75,600 tokens), 50 k-means iterations; ours: `Reordered('semantic', "
        "density=SVG2's density)` with its defaults (a query cluster per 64 tokens, two key clusters, "
        "25 iterations).",
        "",
        "| data | SVG2 setting | density | SVG2 error | ours density | ours error | ours / SVG2 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for svg2, ours in zip(quality[0::2], quality[1::2], strict=False):
        if not svg2["method"].startswith("svg2"):
            break
        lines.append(
            f"| {svg2['dataset']} | {svg2['method'][5:-1]} | {svg2['density']:.3f} | {svg2['error']:.4f} | "
            f"{ours['density']:.3f} | {ours['error']:.4f} | {ours['error'] / svg2['error']:.2f} |"
        )
    lines += [
        "",
        "Old (one permutation by key cluster, fixed 64-token blocks) vs new (separate query/key orders, "
        "cluster-sized blocks) at the same `density=`:",
        "",
        "| data | density= | old density | old error | new density | new error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in old:
        density = r["method"][len("old(density=") : -1]
        new = _error_at(quality, r["dataset"], f"ours(density={density})")
        if new is not None:
            lines.append(
                f"| {r['dataset']} | {density} | {r['density']:.3f} | {r['error']:.4f} | "
                f"{new['density']:.3f} | {new['error']:.4f} |"
            )
    lines += ["", "CPU path cost by cluster size (torch backend, 13,824 tokens x 4 heads, one call):", ""]
    lines += ["| cluster size | density | seconds |", "|---:|---:|---:|"]
    for r in report["cost"]:
        lines.append(f"| {r['cluster_size']} | {r['density']:.3f} | {r['seconds']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
