"""Semantic reordering vs Sparse VideoGen 2's own selection: rel. L2 error of the attention output
against dense attention at equal token-pair density, on structured synthetic heads (spatial,
temporal, semantic) at 9x32x48 and on held-out data (another seed and grid), plus what cluster
sizes cost on the CPU path.

    python benchmarks/semantic.py [--quick]

Writes benchmarks/results/semantic-cpu.json and .md (strict JSON, `dit_accel.results`). The "old"
rows (one permutation by key cluster, fixed 64-token blocks; before VarBlockLayout, commit fffba85) come from
benchmarks/results/semantic-old-cpu.json, measured once on the same data with the code of that time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.methods import Reordered
from dit_accel.methods.base import Plan
from dit_accel.quality.references import svg2_layout
from dit_accel.quality.synthetic import synthetic_attention
from dit_accel.results import write_result
from dit_accel.var_layout import VarBlockLayout

RESULTS = Path(__file__).parent / "results"
DATASETS = {"structured": (TokenGrid(9, 32, 48), 0), "held-out": (TokenGrid(8, 30, 40), 1)}
# SVG2 settings (top_p, min_kc_ratio): its default (0.9, 0.1) and a sweep without the floor, which
# spans densities of about 0.05 to 0.3.
SVG2_SETTINGS = ((0.9, 0.1), (0.5, 0.0), (0.7, 0.0), (0.9, 0.0), (0.95, 0.0), (0.98, 0.0))
# One head of each type (spatial, temporal, semantic): the shared 2-core CPU takes minutes per setting.
HEADS_PER_TYPE = 1
# SVG2's cluster counts at Wan 720p (75,600 tokens): 300 query and 1,000 key clusters.
SVG2_TOKENS_PER_CLUSTER = (75_600 / 300, 75_600 / 1_000)


def dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    out = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)))
    return out.transpose(1, 2)


def rel_l2(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref.double()).norm() / ref.double().norm())


def svg2_counts(grid: TokenGrid) -> tuple[int, int]:
    return tuple(max(1, round(grid.video_len / t)) for t in SVG2_TOKENS_PER_CLUSTER)


def run_dataset(name: str, grid: TokenGrid, seed: int, quick: bool) -> list[dict]:
    data = synthetic_attention(grid, heads_per_type=HEADS_PER_TYPE, head_dim=64, seed=seed)
    q, k, v = data.q, data.k, data.v
    ref = dense(q, k, v)
    rows = []
    qc, kc = svg2_counts(grid)
    for top_p, min_kc_ratio in SVG2_SETTINGS[:3] if quick else SVG2_SETTINGS:
        start = time.perf_counter()
        layout, q_perm, k_perm = svg2_layout(q, k, grid, qc, kc, top_p=top_p, min_kc_ratio=min_kc_ratio)
        plan = Plan(layout=layout, grid=grid, permutation=q_perm, key_permutation=k_perm)
        out = plan.run(q, k, v)
        name_svg2 = f"svg2(top_p={top_p}, min_kc_ratio={min_kc_ratio})"
        rows.append(_row(name, name_svg2, plan, out, ref, time.perf_counter() - start))
        rows.append(_ours(name, q, k, v, ref, grid, plan.density))
    return rows


def _ours(name, q, k, v, ref, grid, density) -> dict:
    start = time.perf_counter()
    method = Reordered("semantic", density=round(density, 4))
    plan = method.plan(q, k, grid)
    out = plan.run(q, k, v)
    return _row(name, f"ours(density={density:.3f})", plan, out, ref, time.perf_counter() - start)


def _row(dataset: str, method: str, plan: Plan, out, ref, seconds: float) -> dict:
    row = {"dataset": dataset, "method": method, "density": plan.density, "error": rel_l2(out, ref)}
    row["seconds"] = seconds
    print(
        f"{dataset:10s} {method:34s} density {row['density']:.3f} error {row['error']:.4f} ({seconds:.1f} s)"
    )
    return row


def cluster_cost(quick: bool) -> list[dict]:
    """Seconds of the torch CPU path at one density for blocks of one size, vs fixed 64-token blocks."""
    gen = torch.Generator().manual_seed(0)
    s, h, d = (4096, 2, 64) if quick else (13_824, 4, 64)
    density = 0.15
    q, k, v = (torch.randn(1, s, h, d, generator=gen) for _ in range(3))
    rows = []
    for size in (8, 16, 32, 64, 128, 256):
        n = s // size
        mask = torch.rand(1, h, n, n, generator=gen) < density
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
    torch.manual_seed(0)
    rows = [r for name, (grid, seed) in DATASETS.items() for r in run_dataset(name, grid, seed, args.quick)]
    cost = cluster_cost(args.quick)
    old_path = RESULTS / "semantic-old-cpu.json"
    old = json.loads(old_path.read_text()) if old_path.exists() else []
    report = {"device": "cpu", "machine": "2-core AMD EPYC CPU (shared), no GPU", "quality": rows, "old": old}
    report["cost"] = cost
    if not args.quick:
        write_result(report, RESULTS, stem="semantic", markdown=markdown(report))


def markdown(report: dict) -> str:
    lines = [
        "# Semantic reordering vs Sparse VideoGen 2 (CPU)",
        "",
        f"Machine: {report['machine']}. Rel. L2 error of the attention output vs dense; synthetic heads "
        "(spatial, temporal, semantic; `dit_accel.quality.synthetic`). structured: 9x32x48 seed 0; held-out: "
        "8x30x40 seed 1. SVG2's cluster counts scaled from Wan 720p (300 q / 1,000 k at 75,600 tokens).",
        "",
        "| data | method | density | rel. L2 error |",
        "|---|---|---:|---:|",
    ]
    for r in report["quality"] + report["old"]:
        lines.append(f"| {r['dataset']} | {r['method']} | {r['density']:.3f} | {r['error']:.4f} |")
    lines += ["", "CPU path cost by cluster size (torch backend, one call, noisy shared machine):", ""]
    lines += ["| cluster size | density | seconds |", "|---:|---:|---:|"]
    for r in report["cost"]:
        lines.append(f"| {r['cluster_size']} | {r['density']:.3f} | {r['seconds']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
