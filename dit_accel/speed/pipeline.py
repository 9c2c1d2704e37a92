"""Pipeline speed: one transformer forward with the stock processors (torch SDPA) vs each method's
processor, side by side in one run, plus each method's planning time vs one dense SDPA call.

Every row's speedup is measured against the stock forward of the same run; densities are the mean
over the layers of the plans the forward actually ran.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import asdict

import torch
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.methods import Method, Plan
from dit_accel.processors import PlanningContext, SparseAttnProcessor, stock_attention
from dit_accel.results import environment, environment_line, time_ms
from dit_accel.speed.pipeline_cases import ModelCase, build_transformer, make_inputs
from dit_accel.speed.pipeline_settings import Setting, method_settings
from dit_accel.speed.planning import planning_ms


class PlanRecorder(PlanningContext):
    """The bare runtime (static plans cached per grid), keeping the layouts of the sparse calls since
    `clear()` and the q/k `[B, S, H, D]` of the first call ever planned (the first block's)."""

    def __init__(self) -> None:
        super().__init__()
        self.layouts: list[BlockLayout] = []
        self.qk: tuple[torch.Tensor, torch.Tensor] | None = None

    def clear(self) -> None:
        self.layouts.clear()

    def plan(
        self, site: Hashable | None, method: Method, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid
    ) -> tuple[Plan, bool]:
        if self.qk is None:
            self.qk = (q.detach().clone(), k.detach().clone())
        return super().plan(site, method, q, k, grid)

    def record(
        self, site: Hashable | None, *, plan: Plan | None, plan_s: float, attention_s: float, cache_hit: bool
    ) -> None:
        if plan is not None:
            self.layouts.append(plan.layout)


def _sdpa_ms(case: ModelCase, device: torch.device, dtype: torch.dtype, repeats: int, seed: int) -> float:
    """Milliseconds of one dense SDPA self-attention call on random q/k/v `[1, tokens, heads, head_dim]`."""
    generator = torch.Generator().manual_seed(seed)
    shape = (1, case.tokens, case.heads, case.head_dim)
    q, k, v = (torch.randn(shape, generator=generator).to(device, dtype) for _ in range(3))
    return time_ms(lambda: stock_attention(q, k, v), device, repeats)


def _time_setting(
    model: torch.nn.Module,
    inputs: dict,
    setting: Setting,
    grid: TokenGrid,
    device: torch.device,
    repeats: int,
) -> dict:
    """Forward ms, plan density and planning ms of one setting on the video-only `grid` (Wan's self-attention
    has no text tokens); the model's processors are replaced."""
    method = setting.build()
    recorder = PlanRecorder()
    model.set_attn_processor(SparseAttnProcessor(method, grid=grid, runtime=recorder))

    def forward() -> None:
        recorder.clear()
        model(**inputs)

    forward_ms = time_ms(forward, device, repeats)
    density = sum(layout.density() for layout in recorder.layouts) / len(recorder.layouts)
    q, k = recorder.qk
    return {
        "setting": setting.label,
        "method": setting.method,
        "options": setting.options,
        "matched": setting.matched,
        "density": round(density, 4),
        "forward_ms": round(forward_ms, 2),
        "plan_ms": round(planning_ms(method, q, k, grid, repeats), 3),
        "planned": "once per grid" if method.static else "per call",
    }


def measure_case(
    case: ModelCase,
    device: torch.device,
    dtype: torch.dtype,
    layers: int | None = None,
    repeats: int = 3,
    seed: int = 0,
) -> dict:
    """Time `case`'s forward with the stock processors, then with every setting of `method_settings`;
    returns the case's shapes, the time of one dense SDPA attention call and one row per setting
    (density, forward ms, speedup vs stock, planning ms and its ratio to the SDPA call)."""
    model = build_transformer(case, device, dtype, layers=layers, seed=seed)
    inputs = make_inputs(case, device, dtype, seed=seed)
    grid = TokenGrid(*case.grid)
    with torch.inference_mode():
        sdpa_ms = _sdpa_ms(case, device, dtype, repeats, seed)
        model.set_attn_processor(WanAttnProcessor())
        stock_ms = time_ms(lambda: model(**inputs), device, repeats)
        rows = [
            _time_setting(model, inputs, setting, grid, device, repeats)
            for setting in method_settings(case.target_density, grid, device)
        ]
    for row in rows:
        row["speedup"] = round(stock_ms / row["forward_ms"], 3)
        row["plan_vs_sdpa"] = round(row["plan_ms"] / sdpa_ms, 4)
    stock = {
        "setting": "stock SDPA (WanAttnProcessor)",
        "method": "stock",
        "options": {},
        "matched": False,
        "density": 1.0,
        "forward_ms": round(stock_ms, 2),
        "plan_ms": None,
        "planned": "-",
        "speedup": 1.0,
        "plan_vs_sdpa": None,
    }
    return {
        **asdict(case),
        "layers": model.config.num_layers,
        "grid": case.grid,
        "tokens": case.tokens,
        "dtype": str(dtype).removeprefix("torch."),
        "attention_shape": [1, case.tokens, case.heads, case.head_dim],
        "sdpa_attention_ms": round(sdpa_ms, 3),
        # Self-attention's share of the stock forward (blocks x one SDPA call / forward): it bounds the
        # forward speedup any sparse attention can give, 1 / (1 - share) at density 0.
        "attention_share": round(model.config.num_layers * sdpa_ms / stock_ms, 3),
        "rows": [stock, *rows],
    }


def measure(
    cases: tuple[ModelCase, ...],
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    layers: int | None = None,
    repeats: int | None = None,
    seed: int = 0,
) -> dict:
    """Every case (bf16 and 3 timed forwards on CUDA, fp32 and 2 on CPU unless given); returns
    {"device", "threads", "torch", "triton", "date", "cases": [...]} ready for JSON."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if gpu else torch.float32)
    repeats = repeats or (3 if gpu else 2)
    return {
        **environment(device),
        "cases": [measure_case(case, device, dtype, layers, repeats, seed) for case in cases],
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _target_line(case: dict) -> str:
    """The issue's target for `case` and the fastest row whose density is within 20% above the target."""
    if case["target_speedup"] is None:
        return "target: none for the reduced set"
    limit = case["target_density"] * 1.2
    near = [r for r in case["rows"] if r["method"] != "stock" and r["density"] <= limit]
    head = f"target: >= {case['target_speedup']}x at density ~{case['target_density']}"
    if not near:
        return f"{head}; no row at density <= {limit:.3f}"
    best = max(near, key=lambda r: r["speedup"])
    verdict = "met" if best["speedup"] >= case["target_speedup"] else "not met"
    return f"{head}; best row at density <= {limit:.3f}: {best['setting']} {best['speedup']:.2f}x ({verdict})"


def pipeline_table(result: dict) -> str:
    """Markdown: one table per case of a `measure` result, with its shapes and the issue's targets."""
    lines = [environment_line(result)]
    for case in result["cases"]:
        frames, height, width = case["grid"]
        channels, lf, lh, lw = case["latents"]
        reduced = " (REDUCED CPU SET: not the issue's shapes)" if case["reduced"] else ""
        lines += [
            "",
            f"### {case['name']}{reduced}",
            f"{case['layers']} blocks, {case['dtype']}, latents 1x{channels}x{lf}x{lh}x{lw} -> "
            f"{frames}x{height}x{width} = {case['tokens']:,} tokens, text {case['text_len']}; "
            f"one dense SDPA attention call {'x'.join(map(str, case['attention_shape']))}: "
            f"{case['sdpa_attention_ms']:.2f} ms, {100 * case['attention_share']:.0f}% of the stock forward",
            "",
            "| setting | density | forward ms | vs stock | plan ms | plan / SDPA | planned |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in case["rows"]:
            ratio = "-" if r["plan_vs_sdpa"] is None else f"{100 * r['plan_vs_sdpa']:.1f}%"
            mark = " *" if r["matched"] else ""
            lines.append(
                f"| {r['setting']}{mark} | {r['density']:.3f} | {r['forward_ms']:.1f} | {r['speedup']:.2f}x"
                f" | {_ms(r['plan_ms'])} | {ratio} | {r['planned']} |"
            )
        lines += ["", f"\\* density-matched to {case['target_density']}; {_target_line(case)}"]
    lines += [
        "",
        "planning target: <= 5% of one dense SDPA call at 32,760 tokens for methods planned per call "
        "(Adaptive's search is about one dense attention by design; accelerate() reuses it across steps)",
    ]
    return "\n".join(lines)
