"""Planning speed: each method's `plan(q, k, grid)` as a share of one dense SDPA call of the same layer.

q/k are synthetic attention on the grid (`speed.kernels.grid_qk`), so data-dependent methods see
structured heads; every row is measured side by side with the dense call in one run.
"""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods import Method, Plan
from dit_accel.results import environment, environment_line, time_ms
from dit_accel.speed.kernels import benchmark_methods, grid_qk, sdpa_runner

# The issues' targets, as a share of one dense call: planned per call unless static.
TARGETS = {
    "draft(density=0.15)": 0.02,
    "draft(mass=0.9)": 0.02,
    "reordered(axes, density=0.15)": 0.05,
    "reordered(semantic, mass=0.9) warm-started": 0.10,
    "adaptive(mass=0.9)": 1.2,
}


def planning_ms(
    method: Method,
    q: torch.Tensor,
    k: torch.Tensor,
    grid: TokenGrid,
    repeats: int,
    previous: Plan | None = None,
) -> float:
    """Milliseconds of one `plan(q, k, grid, previous)` (methods keep no caches: a static method's is
    the one-off cost of building its plan, which the pattern cache then reuses)."""
    return time_ms(lambda: method.plan(q, k, grid, previous), q.device, repeats)


def measure(
    grid: TokenGrid,
    heads: int,
    head_dim: int,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    repeats: int | None = None,
    seed: int = 0,
) -> dict:
    """Time one dense SDPA call on `[1, S, heads, head_dim]` and every `benchmark_methods` plan (the
    semantic reordering cold and warm-started from its own previous plan); returns a JSON-ready dict."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if gpu else torch.float32)
    repeats = repeats or (10 if gpu else 2)
    q, k = grid_qk(grid, heads, head_dim, device, dtype)
    v = torch.randn(q.shape, generator=torch.Generator().manual_seed(seed)).to(device, dtype)
    sdpa_ms = time_ms(sdpa_runner(q, k, v), device, repeats)
    rows = []
    for label, method in benchmark_methods().items():
        runs = [(label, None)]
        if label.startswith("reordered(semantic"):
            runs.append((f"{label} warm-started", method.plan(q, k, grid)))
        for name, previous in runs:
            ms = planning_ms(method, q, k, grid, repeats, previous)
            share = ms / sdpa_ms
            target = TARGETS.get(name)
            rows.append(
                {
                    "method": name,
                    "planned": "once per grid" if method.static else "per call",
                    "plan_ms": round(ms, 3),
                    "share_of_dense": round(share, 4),
                    "target_share": target,
                    "met": None if target is None else share <= target,
                }
            )
    return {
        **environment(device),
        "grid": [grid.frames, grid.height, grid.width],
        "attention_shape": [1, grid.seq_len, heads, head_dim],
        "dtype": str(dtype).removeprefix("torch."),
        "sdpa_dense_ms": round(sdpa_ms, 3),
        "rows": rows,
    }


def planning_table(result: dict) -> str:
    """Markdown table of a `measure` result."""
    shape = "x".join(map(str, result["attention_shape"]))
    lines = [
        environment_line(result),
        "",
        f"grid {'x'.join(map(str, result['grid']))}, attention {shape} {result['dtype']}: one dense SDPA "
        f"call {result['sdpa_dense_ms']:.2f} ms",
        "",
        "| method | planned | plan ms | share of one dense call | target | met |",
        "|---|---|--:|--:|--:|---|",
    ]
    for r in result["rows"]:
        target = "-" if r["target_share"] is None else f"<= {100 * r['target_share']:g}%"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "no")
        lines.append(
            f"| {r['method']} | {r['planned']} | {r['plan_ms']:.2f} | {100 * r['share_of_dense']:.1f}% | "
            f"{target} | {met} |"
        )
    return "\n".join(lines)
