"""Kernel speed: block-sparse attention vs torch SDPA dense vs FlexAttention on the same layout.

Layouts: random ones with the same number of key blocks in every row, at given densities, and, for
shapes on a video grid, the real methods' layouts planned on synthetic attention of that grid (uneven
rows). Every row is measured side by side in one run; ratios are what we report, not lone timings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from dit_accel.attention import block_sparse_attention, default_backend
from dit_accel.grid import TokenGrid
from dit_accel.kernels.block_sparse.flex_cpu import flex_block_mask
from dit_accel.kernels.block_sparse.torch_sparse import torch_engine
from dit_accel.layout import BlockLayout, num_blocks
from dit_accel.methods import Adaptive, Draft, Method, Radial, Reordered, Window
from dit_accel.quality.synthetic import HEAD_TYPES, synthetic_attention
from dit_accel.results import environment, environment_line, first_call_s, time_ms
from dit_accel.var_layout import VarBlockLayout


@dataclass(frozen=True)
class Shape:
    """One attention call: q/k/v `[batch, seq, heads, head_dim]`; `grid` (frames, height, width) when
    the sequence is a video's tokens, so the methods' own layouts can be planned for it."""

    name: str
    batch: int
    seq: int
    heads: int
    head_dim: int
    grid: tuple[int, int, int] | None = None


WAN_480P = (21, 30, 52)  # Wan 2.1 at 81 x 480 x 832: 32,760 tokens
WAN_720P = (21, 45, 80)  # Wan 2.1 at 81 x 720 x 1280: 75,600 tokens
GPU_SHAPES = (
    Shape("wan2.1-1.3b-480p", 1, 32760, 12, 128, WAN_480P),
    Shape("wan2.1-14b-720p", 1, 75600, 40, 128, WAN_720P),
    Shape("cogvideox-5b", 1, 17776, 48, 64),
    Shape("flux-1024", 1, 4608, 24, 128),
)
CPU_SHAPES = (
    Shape("cpu-8k-d64", 1, 8192, 4, 64),
    Shape("cpu-4k-d128", 1, 4096, 4, 128),
    # The methods' uneven layouts at about 8k tokens (the demo model's 33-frame grid) and at the Wan
    # 480p grid, one head of each synthetic type and more.
    Shape("cpu-8k-grid", 1, 8448, 4, 64, (33, 16, 16)),
    Shape("cpu-wan480p-grid", 1, 32760, 3, 128, WAN_480P),
)
TINY_SHAPES = (Shape("tiny-grid", 1, 4 * 8 * 16, 3, 64, (4, 8, 16)),)  # dry runs: seconds on a CPU
SHAPES = {shape.name: shape for shape in (*GPU_SHAPES, *CPU_SHAPES, *TINY_SHAPES)}
DENSITIES = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05)
FLEX_MODES = ("compiled", "eager", "off")


def benchmark_methods() -> dict[str, Method]:
    """The method settings whose layouts and planning the benchmarks time, by label: even (density=)
    and uneven (mass=, static windows) rows."""
    return {
        "radial()": Radial(),
        "window()": Window(),
        "draft(density=0.15)": Draft(density=0.15),
        "draft(mass=0.9)": Draft(mass=0.9),
        "reordered(axes, density=0.15)": Reordered("axes", density=0.15),
        "reordered(semantic, mass=0.9)": Reordered("semantic", mass=0.9),
        "adaptive(mass=0.9)": Adaptive(mass=0.9),
    }


def grid_qk(
    grid: TokenGrid, heads: int, head_dim: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic q, k `[1, S, heads, head_dim]` on `grid` (`eval.synthetic`); head h has type h % 3."""
    per_type = -(-heads // len(HEAD_TYPES))
    data = synthetic_attention(grid, heads_per_type=per_type, head_dim=max(64, head_dim))
    order = torch.arange(heads)
    picked = order % len(HEAD_TYPES) * per_type + order // len(HEAD_TYPES)
    q, k = (x[:, :, picked, :head_dim].to(device, dtype) for x in (data.q, data.k))
    return q, k


def method_layouts(
    shape: Shape, device: torch.device, dtype: torch.dtype
) -> dict[str, BlockLayout | VarBlockLayout]:
    """The `benchmark_methods` layouts (each at its default block size) for `shape`, which must have a
    grid, planned on `grid_qk`; label -> layout with batch 1 and all of `shape`'s heads."""
    grid = TokenGrid(*shape.grid)
    q, k = grid_qk(grid, shape.heads, shape.head_dim, device, dtype)
    layouts = {}
    for label, method in benchmark_methods().items():
        layout = method.plan(q, k, grid).layout
        if isinstance(layout, VarBlockLayout):
            parts = (layout.kv_counts, layout.kv_indices, layout.q_offsets, layout.k_offsets)
            widened = (t.expand(1, shape.heads, *t.shape[2:]).contiguous() for t in parts)
            layouts[label] = VarBlockLayout(*widened, trusted=True)
            continue
        layouts[label] = BlockLayout(
            layout.kv_counts.expand(1, shape.heads, -1).contiguous(),
            layout.kv_indices.expand(1, shape.heads, -1, -1).contiguous(),
            layout.q_len,
            layout.kv_len,
            layout.block_q,
            layout.block_k,
            trusted=True,
        )
    return layouts


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


def flex_runner(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: BlockLayout, mode: str = "compiled"
) -> Callable[[], torch.Tensor] | None:
    """A call of FlexAttention on q/k/v `[B, S, H, D]` with `layout` as its BlockMask, returning
    `[B, H, S, D]`: "compiled" (torch.compile, as Flex is meant to run), "eager" (Flex's slow
    reference path, for dry runs) or "off" (None)."""
    if mode not in FLEX_MODES:
        raise ValueError(f"flex must be one of {', '.join(FLEX_MODES)}, got {mode!r}")
    if mode == "off":
        return None
    from torch.nn.attention.flex_attention import flex_attention

    if not isinstance(layout, BlockLayout):
        raise ValueError("FlexAttention's BlockMask has one block size: cluster-sized blocks do not fit it")
    geometry = (layout.q_len, layout.kv_len, layout.block_q, layout.block_k)
    block_mask = flex_block_mask(layout.kv_counts, layout.kv_indices, q.shape[0], q.shape[2], *geometry)
    run = torch.compile(flex_attention) if mode == "compiled" else flex_attention
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    return lambda: run(qt, kt, vt, block_mask=block_mask)


def sdpa_runner(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Callable[[], torch.Tensor]:
    """Dense torch SDPA on q/k/v `[B, S, H, D]`; on CUDA pinned to the flash kernel."""
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    if q.device.type != "cuda":
        return lambda: torch.nn.functional.scaled_dot_product_attention(qt, kt, vt)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def run() -> torch.Tensor:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return torch.nn.functional.scaled_dot_product_attention(qt, kt, vt)

    return run


def measure(
    shapes: tuple[Shape, ...] = CPU_SHAPES,
    densities: tuple[float, ...] = DENSITIES,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    block: int | None = None,
    repeats: int | None = None,
    seed: int = 0,
    flex: str = "compiled",
    methods: bool = True,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Time every (shape, layout): the random even-row layouts at `densities` and, with `methods`, the
    methods' layouts of shapes that have a grid; ours vs SDPA dense vs FlexAttention (`flex`: a
    FLEX_MODES entry). Returns {"device", "versions", "rows": [...]} ready for JSON; `progress` gets
    that result so far after every row (so a run cut short still leaves its rows)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if gpu else torch.float32)
    block = block or 128
    repeats = repeats or (20 if gpu else 3)
    backend = default_backend(device)
    generator = torch.Generator().manual_seed(seed)
    result = {**environment(device), "flex": flex, "rows": []}
    for shape in shapes:
        b, s, h, d = shape.batch, shape.seq, shape.heads, shape.head_dim
        q, k, v = (torch.randn(b, s, h, d, generator=generator).to(device, dtype) for _ in range(3))
        sdpa_ms = time_ms(sdpa_runner(q, k, v), device, repeats)
        layouts = {
            f"even rows {density:g}": banded_random_layout(s, h, block, density, generator, device)
            for density in densities
        }
        if methods and shape.grid is not None:
            layouts.update(method_layouts(shape, device, dtype))
        for label, layout in layouts.items():
            row = _time_layout(q, k, v, layout, backend, flex, repeats)
            flex_ms = row["flex_ms"]
            result["rows"].append(
                {
                    **asdict(shape),
                    "layout": label,
                    "dtype": str(dtype).removeprefix("torch."),
                    "block": layout.block_q if isinstance(layout, BlockLayout) else "cluster",
                    "backend": backend,
                    **row,
                    "sdpa_dense_ms": round(sdpa_ms, 3),
                    "speedup_vs_sdpa": round(sdpa_ms / row["ours_ms"], 3),
                    "flex_vs_sdpa": None if flex_ms is None else round(sdpa_ms / flex_ms, 3),
                    "speedup_vs_flex": None if flex_ms is None else round(flex_ms / row["ours_ms"], 3),
                    "effective_tflops": round(
                        row["density"] * 4.0 * b * h * s * s * d / (row["ours_ms"] * 1e-3) / 1e12, 4
                    ),
                }
            )
            if progress is not None:
                progress(result)
    return result


def _time_layout(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    layout: BlockLayout,
    backend: str,
    flex: str,
    repeats: int,
) -> dict:
    """Density, longest row, the engine ours ran on, ours ms and Flex ms (first calls in seconds; None
    and the error when Flex cannot run the layout) for one layout."""
    device = q.device

    def ours() -> torch.Tensor:
        return block_sparse_attention(q, k, v, layout, backend=backend)

    row = {
        "density": round(layout.density(), 4),
        "longest_row": round(int(layout.kv_counts.max()) / layout.num_kv_blocks, 4),
        "engine": _engine(q, k, layout, backend),
        "ours_first_call_s": round(first_call_s(ours, device), 3),
        "ours_ms": round(time_ms(ours, device, repeats), 3),
        "flex_ms": None,
        "flex_first_call_s": None,
        "flex_error": None,
    }
    try:
        run = flex_runner(q, k, v, layout, flex)
        if run is not None:
            row["flex_first_call_s"] = round(first_call_s(run, device), 3)
            row["flex_ms"] = round(time_ms(run, device, repeats), 3)
    except Exception as error:  # noqa: BLE001 - a layout Flex cannot run is a result, not a crash
        row["flex_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return row


def _engine(q: torch.Tensor, k: torch.Tensor, layout: BlockLayout | VarBlockLayout, backend: str) -> str:
    """What runs our call: the backend, or on the torch backend its engine (`torch_engine`)."""
    if backend != "torch":
        return backend
    if isinstance(layout, VarBlockLayout):
        return "gather"
    return torch_engine(q, k, layout.kv_counts, layout.kv_indices, layout.block_k, need_lse=False)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def kernel_table(result: dict) -> str:
    """Markdown table of a `measure` result."""
    lines = [
        f"{environment_line(result)}; Flex {result['flex']}",
        "",
        "| shape | B x S x H x D | dtype | layout | block | density | longest row | engine | ours ms "
        "| SDPA dense ms | Flex ms | ours / SDPA | Flex / SDPA | ours / Flex | TFLOP/s "
        "| first call s ours / Flex |",
        "|---|---|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in result["rows"]:
        flex = "-" if r["flex_ms"] is None else f"{r['flex_ms']:.2f}"
        first = "-" if r["flex_first_call_s"] is None else f"{r['flex_first_call_s']:.2f}"
        lines.append(
            f"| {r['name']} | {r['batch']}x{r['seq']}x{r['heads']}x{r['head_dim']} | {r['dtype']} | "
            f"{r['layout']} | {r['block']} | {r['density']:.3f} | {r['longest_row']:.3f} | {r['engine']} | "
            f"{r['ours_ms']:.2f} | {r['sdpa_dense_ms']:.2f} | {flex} | {_ratio(r['speedup_vs_sdpa'])} | "
            f"{_ratio(r['flex_vs_sdpa'])} | {_ratio(r['speedup_vs_flex'])} | {r['effective_tflops']:.3f} | "
            f"{r['ours_first_call_s']:.2f} / {first} |"
        )
    errors = {r["flex_error"] for r in result["rows"] if r["flex_error"]}
    lines += [f"\nFlex failed: {error}" for error in sorted(errors)]
    return "\n".join(lines)
