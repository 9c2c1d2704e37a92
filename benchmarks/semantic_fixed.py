"""Reordered(order="semantic") at fixed densities on the semantic benchmark's data sets, with only the
API every version of the project has, so the same script measures the code before cluster-sized blocks:

    PYTHONPATH=/path/to/old/checkout python benchmarks/semantic_fixed.py   # -> semantic-old-cpu.json

(the old rows committed were measured on `git archive fffba85`, one permutation by key cluster and
fixed 64-token blocks). `benchmarks/semantic.py` imports the data sets and `fixed_density_rows` from here.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods import Reordered
from dit_accel.quality.bench import reference_attention
from dit_accel.quality.synthetic import synthetic_attention
from dit_accel.results import write_result

RESULTS = Path(__file__).parent / "results"
MACHINE = "2-core AMD EPYC CPU (shared by 3 developers), no GPU, torch 1 thread"
# name -> (grid, seed): the structured benchmark and held-out data (another seed and grid).
DATASETS = {"structured": (TokenGrid(9, 32, 48), 0), "held-out": (TokenGrid(8, 30, 40), 1)}
DENSITIES = (0.05, 0.075, 0.1, 0.15, 0.2, 0.3)
# One head of each type (spatial, temporal, semantic): the shared 2-core CPU takes seconds per plan.
HEADS_PER_TYPE = 1


def rel_l2(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| in float64."""
    return float((out.double() - ref.double()).norm() / ref.double().norm())


def dataset(name: str) -> tuple[TokenGrid, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(grid, q, k, v `[1, S, 3, 64]`, dense output float64) of data set `name`."""
    grid, seed = DATASETS[name]
    data = synthetic_attention(grid, heads_per_type=HEADS_PER_TYPE, head_dim=64, seed=seed)
    return grid, data.q, data.k, data.v, reference_attention(data.q, data.k, data.v)


def row(data: str, method: str, density: float, error: float, seconds: float) -> dict:
    """One result row, printed as it is made."""
    print(f"{data:10s} {method:34s} density {density:.3f} error {error:.4f} ({seconds:.1f} s)", flush=True)
    return {"dataset": data, "method": method, "density": density, "error": error, "seconds": seconds}


def fixed_density_rows(label: str, densities: tuple[float, ...] = DENSITIES) -> list[dict]:
    """Rows of `Reordered("semantic", density=d)` for every data set and density, named `label`."""
    rows = []
    for name in DATASETS:
        grid, q, k, v, ref = dataset(name)
        for density in densities:
            start = time.perf_counter()
            plan = Reordered("semantic", density=density).plan(q, k, grid)
            out = plan.run(q, k, v)
            seconds = time.perf_counter() - start
            rows.append(
                row(name, f"{label}(density={density})", plan.layout.density(), rel_l2(out, ref), seconds)
            )
    return rows


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = fixed_density_rows("old")
    write_result({"device": "old-cpu", "machine": MACHINE, "rows": rows}, RESULTS, stem="semantic")


if __name__ == "__main__":
    main()
