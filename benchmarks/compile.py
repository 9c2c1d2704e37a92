"""torch.compile with dit_accel on the CPU: eager vs compiled, stock vs accelerated, whole generations.

    python benchmarks/compile.py                 # tiny-wan (1,280 tokens) and the demo model (2,304 tokens)
    python benchmarks/compile.py --models demo --steps 8 --repeats 3
    DIT_ACCEL_BENCH_CLOCK=process python benchmarks/compile.py --threads 1   # on a shared machine

Compiled = `compile_repeated_blocks(fullgraph=True)` with inductor (what `dit-accel generate --compile`
does). Per model and setting: the first generation (compilation included), the median of the next ones,
and how far the compiled output is from the eager one (relative L2), with the machine's load average
before and after. Prints a markdown table and writes it (.md) and the JSON under benchmarks/results/
(or --out).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch._inductor.config

from dit_accel.generate import call_pipeline, make_items
from dit_accel.generate.stack import compile_transformers
from dit_accel.models.load import load_pipeline
from dit_accel.models.registry import MODELS
from dit_accel.pipelines import accelerate
from dit_accel.results import environment, environment_line, first_call_s, time_ms, write_result

SIZES = {"tiny-wan": (256, 256, 17), "demo": (64, 64, 9)}  # height, width, frames
METHODS = ("stock", "radial", "draft")


def _generation(pipe, spec, size: tuple[int, int, int], steps: int):
    items = make_items([{"prompt": spec.prompts[0] if spec.prompts else "a cat runs"}], 0, *size)
    return lambda: call_pipeline(pipe, spec, items, steps, spec.guidance, output_type="latent")


def measure_model(name: str, steps: int, repeats: int) -> list[dict]:
    spec = MODELS[name]
    size = SIZES[name]
    rows = []
    outputs: dict[str, torch.Tensor] = {}
    for compiled in (False, True):
        pipe = load_pipeline(spec, None, "cpu", torch.float32)
        pipe.set_progress_bar_config(disable=True)
        if compiled:
            compile_transformers(pipe)
        run = _generation(pipe, spec, size, steps)
        for method in METHODS:
            torch._dynamo.reset()
            options = spec.recommended.get(method, {})
            handle = None if method == "stock" else accelerate(pipe, method, **options)
            with torch.no_grad():
                first = first_call_s(run, torch.device("cpu"))
                median_ms = time_ms(run, torch.device("cpu"), repeats)
                out = torch.as_tensor(run())
            error = None
            if compiled:
                reference = outputs[method].double()
                error = float((out.double() - reference).norm() / reference.norm())
            else:
                outputs[method] = out
            density, tokens = 1.0, None
            if handle is not None:
                density = handle.summary()["density"]
                frames, height, width = handle.runtime.video_grid()
                tokens = frames * height * width
                handle.remove()
            rows.append(
                {
                    "model": name,
                    "tokens": tokens,
                    "method": method,
                    "compiled": compiled,
                    "first_s": first,
                    "generation_s": median_ms / 1e3,
                    "density": density,
                    "rel_l2_vs_eager": error,
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    """One line per (model, method): eager and compiled seconds per generation and their ratios."""
    lines = [
        "| model | tokens | method | density | eager s/gen | compiled s/gen | compiled vs eager | "
        "vs stock, eager | vs stock, compiled | first compiled gen s | rel L2 compiled vs eager |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by = {(r["model"], r["method"], r["compiled"]): r for r in rows}
    for (model, method, compiled), row in by.items():
        if compiled:
            continue
        comp = by[(model, method, True)]
        stock_eager, stock_comp = by[(model, "stock", False)], by[(model, "stock", True)]
        tokens = next(r["tokens"] for r in rows if r["model"] == model and r["tokens"])
        lines.append(
            f"| {model} | {tokens} | {method} | {row['density']:.2f} | {row['generation_s']:.2f} | "
            f"{comp['generation_s']:.2f} | {row['generation_s'] / comp['generation_s']:.2f}x | "
            f"{stock_eager['generation_s'] / row['generation_s']:.2f}x | "
            f"{stock_comp['generation_s'] / comp['generation_s']:.2f}x | {comp['first_s']:.1f} | "
            f"{comp['rel_l2_vs_eager']:.1e} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SIZES), help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per generation (default 4)")
    parser.add_argument("--repeats", type=int, default=2, help="timed generations per setting (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="result folder")
    args = parser.parse_args()
    names = args.models.split(",")
    if unknown := sorted(set(names) - set(SIZES)):
        parser.error(f"unknown --models {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    for name in ("steps", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    # The first compiled generation counts its compilation: in this process (the process clock misses
    # compile workers) and from scratch (no kernels from an earlier run's on-disk cache).
    torch._inductor.config.compile_threads = 1
    torch._inductor.config.force_disable_caches = True
    load_before = os.getloadavg()[0]
    rows = [row for name in names for row in measure_model(name, args.steps, args.repeats)]
    result = {
        **environment(torch.device("cpu")),
        "steps": args.steps,
        "repeats": args.repeats,
        "load_average": [load_before, os.getloadavg()[0]],
        "rows": rows,
    }
    markdown = (
        f"{table(rows)}\n\n{environment_line(result)}; {args.steps} steps with CFG, median of "
        f"{args.repeats} generations after the first; compiled: compile_repeated_blocks(fullgraph=True), "
        "inductor, compiled in-process without caches (first gen: compilation included). "
        f"1-minute load average {load_before:.1f} before, {result['load_average'][1]:.1f} after "
        f"({os.cpu_count()} CPUs, shared): ratios are from one run."
    )
    print(markdown)
    print(f"\nwrote {write_result(result, args.out, stem='compile', markdown=markdown)}")


if __name__ == "__main__":
    main()
