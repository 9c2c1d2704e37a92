"""Kernel speed: block-sparse attention vs torch SDPA dense vs FlexAttention on the same layout.

Every row is measured side by side in one run; ratios are what we report, not lone timings.
"""

from __future__ import annotations

import datetime
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dit_accel.attention import block_sparse_attention, default_backend
from dit_accel.layout import BlockLayout, num_blocks


@dataclass(frozen=True)
class Shape:
    """One attention call: q/k/v `[batch, seq, heads, head_dim]`."""

    name: str
    batch: int
    seq: int
    heads: int
    head_dim: int


GPU_SHAPES = (
    Shape("wan2.1-1.3b-480p", 1, 32760, 12, 128),
    Shape("wan2.1-14b-720p", 1, 75600, 40, 128),
    Shape("cogvideox-5b", 1, 17776, 48, 64),
    Shape("flux-1024", 1, 4608, 24, 128),
)
CPU_SHAPES = (
    Shape("cpu-8k-d64", 1, 8192, 4, 64),
    Shape("cpu-4k-d128", 1, 4096, 4, 128),
)
DENSITIES = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05)


def banded_random_layout(
    seq: int, heads: int, block: int, density: float, generator: torch.Generator, device: torch.device
) -> BlockLayout:
    """Per head and query block, the diagonal block plus random others: `round(density * n)` blocks
    in every row, so the work is even across rows as in the methods' top-k layouts."""
    n = num_blocks(seq, block)
    per_row = max(1, round(density * n))
    scores = torch.rand(1, heads, n, n, generator=generator)
    scores.diagonal(dim1=-2, dim2=-1).fill_(2.0)
    top = scores.topk(per_row, dim=-1).indices
    mask = torch.zeros(1, heads, n, n, dtype=torch.bool).scatter_(-1, top, True)
    return BlockLayout.from_mask(mask.to(device), seq, seq, block, block)


def time_ms(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of `fn` in milliseconds after one warm-up call."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        return statistics.median(times)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _flex_runner(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: BlockLayout
) -> Callable[[], torch.Tensor] | None:
    """FlexAttention with our layout as a BlockMask of full blocks (GPU only: compiled kernel)."""
    if q.device.type != "cuda":
        return None
    from torch.nn.attention.flex_attention import BlockMask, flex_attention

    n = layout.num_kv_blocks
    indices = torch.zeros(*layout.kv_counts.shape, n, dtype=torch.int32, device=q.device)
    indices[..., : layout.max_kv_blocks] = layout.kv_indices
    block_mask = BlockMask.from_kv_blocks(
        torch.zeros_like(layout.kv_counts),
        torch.zeros_like(indices),
        layout.kv_counts,
        indices,
        BLOCK_SIZE=(layout.block_q, layout.block_k),
        seq_lengths=(layout.q_len, layout.kv_len),
    )
    compiled = torch.compile(flex_attention)
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    return lambda: compiled(qt, kt, vt, block_mask=block_mask)


def measure(
    shapes: tuple[Shape, ...] = CPU_SHAPES,
    densities: tuple[float, ...] = DENSITIES,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    block: int | None = None,
    repeats: int | None = None,
    seed: int = 0,
) -> dict:
    """Time every (shape, density); returns {"device", "versions", "rows": [...]} ready for JSON."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if gpu else torch.float32)
    block = block or 128
    repeats = repeats or (20 if gpu else 3)
    backend = default_backend(device)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for shape in shapes:
        b, s, h, d = shape.batch, shape.seq, shape.heads, shape.head_dim
        q, k, v = (torch.randn(b, s, h, d, generator=generator).to(device, dtype) for _ in range(3))
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        sdpa_ms = time_ms(
            lambda qt=qt, kt=kt, vt=vt: torch.nn.functional.scaled_dot_product_attention(qt, kt, vt),
            device,
            repeats,
        )
        dense_flops = 4.0 * b * h * s * s * d
        for density in densities:
            layout = banded_random_layout(s, h, block, density, generator, device)
            ours_ms = time_ms(
                lambda q=q, k=k, v=v, layout=layout: block_sparse_attention(q, k, v, layout, backend=backend),
                device,
                repeats,
            )
            flex = _flex_runner(q, k, v, layout)
            flex_ms = time_ms(flex, device, repeats) if flex is not None else None
            real_density = layout.density()
            rows.append(
                {
                    **asdict(shape),
                    "dtype": str(dtype).removeprefix("torch."),
                    "block": block,
                    "backend": backend,
                    "density": round(real_density, 4),
                    "ours_ms": round(ours_ms, 3),
                    "sdpa_dense_ms": round(sdpa_ms, 3),
                    "flex_ms": None if flex_ms is None else round(flex_ms, 3),
                    "speedup_vs_sdpa": round(sdpa_ms / ours_ms, 3),
                    "speedup_vs_flex": None if flex_ms is None else round(flex_ms / ours_ms, 3),
                    "effective_tflops": round(real_density * dense_flops / (ours_ms * 1e-3) / 1e12, 4),
                }
            )
    return {**environment(device), "rows": rows}


def environment(device: torch.device) -> dict[str, str | int | None]:
    """Where a benchmark ran: device name, CPU threads, torch and triton versions, today's date."""
    return {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()})",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "triton": _triton_version(),
        "date": datetime.date.today().isoformat(),
    }


def _triton_version() -> str | None:
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


def format_table(result: dict) -> str:
    """Markdown table of a `measure` result."""
    lines = [
        f"device: {result['device']}, torch {result['torch']}, triton {result['triton']}, {result['date']}",
        "",
        "| shape | B x S x H x D | dtype | density | ours ms | SDPA dense ms | Flex ms | vs SDPA | vs Flex "
        "| TFLOP/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        flex = "-" if r["flex_ms"] is None else f"{r['flex_ms']:.2f}"
        vs_flex = "-" if r["speedup_vs_flex"] is None else f"{r['speedup_vs_flex']:.2f}x"
        lines.append(
            f"| {r['name']} | {r['batch']}x{r['seq']}x{r['heads']}x{r['head_dim']} | {r['dtype']} | "
            f"{r['density']:.3f} | {r['ours_ms']:.2f} | {r['sdpa_dense_ms']:.2f} | {flex} | "
            f"{r['speedup_vs_sdpa']:.2f}x | {vs_flex} | {r['effective_tflops']:.3f} |"
        )
    return "\n".join(lines)


def write_result(result: dict, directory: str | Path, stem: str = "attention") -> Path:
    """Write `result` as JSON under `directory`, named after the device; returns the path."""
    slug = "".join(c if c.isalnum() else "-" for c in result["device"].lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    path = Path(directory) / f"{stem}-{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    return path
