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
from semantic_fixed import DATASETS, HEADS_PER_TYPE, MACHINE, RESULTS, fixed_density_rows, row

from dit_accel.attention import block_sparse_attention
from dit_accel.quality.papers import svg2_comparison
from dit_accel.quality.synthetic import synthetic_attention
from dit_accel.results import write_result
from dit_accel.var_layout import VarBlockLayout

# SVG2 settings (top_p, min_kc_ratio): its default (0.9, 0.1), top_p without the floor and denser
# floors, which together span densities of about 0.05 to 0.3.
SVG2_SETTINGS = ((0.8, 0.0), (0.9, 0.0), (0.9, 0.1), (0.95, 0.0), (0.98, 0.0), (0.9, 0.2), (0.9, 0.3))


def svg2_rows(name: str, quick: bool) -> list[dict]:
    """SVG2's selection at each setting and ours at the density it reached, on data set `name`."""
    grid, seed = DATASETS[name]
    data = synthetic_attention(grid, heads_per_type=HEADS_PER_TYPE, head_dim=64, seed=seed)
    rows = []
    for r in svg2_comparison(data, SVG2_SETTINGS[:2] if quick else SVG2_SETTINGS):
        rows.append(row(name, f"svg2({r['setting']})", r["density"], r["svg2_error"], r["svg2_seconds"]))
        label = f"ours(density={r['density']:.3f})"
        rows.append(row(name, label, r["ours_density"], r["ours_error"], r["ours_seconds"]))
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
