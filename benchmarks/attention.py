"""Block-sparse attention vs SDPA dense vs FlexAttention (same layout), at real DiT shapes.

    python benchmarks/attention.py            # GPU shapes on CUDA, a reduced CPU set otherwise
    python benchmarks/attention.py --cpu      # force the CPU set
    python benchmarks/attention.py --shapes wan2.1-1.3b-480p --densities 1,0.1
    python benchmarks/attention.py --dry-run  # tiny shapes on the CPU, eager Flex: seconds

Prints a markdown table and writes it (.md) and the JSON under benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dit_accel.results import write_result
from dit_accel.speed.kernels import (
    CPU_SHAPES,
    DENSITIES,
    FLEX_MODES,
    GPU_SHAPES,
    SHAPES,
    TINY_SHAPES,
    kernel_table,
    measure,
)


def _densities(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0.0 < x <= 1.0 for x in values):
        raise argparse.ArgumentTypeError(f"comma-separated numbers in (0, 1], got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if CUDA is present")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU, eager Flex, 1 repeat")
    parser.add_argument("--shapes", help=f"comma-separated shape names from: {', '.join(SHAPES)}")
    parser.add_argument("--densities", type=_densities, help="random-layout densities (default: 1..0.05)")
    parser.add_argument("--flex", choices=FLEX_MODES, help="FlexAttention mode (default compiled)")
    parser.add_argument("--no-methods", action="store_true", help="skip the methods' layouts")
    parser.add_argument("--repeats", type=int, help="timed calls per row (default 20 GPU, 3 CPU)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="result folder")
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and not (args.cpu or args.dry_run)
    shapes = TINY_SHAPES if args.dry_run else GPU_SHAPES if gpu else CPU_SHAPES
    if args.shapes:
        if unknown := sorted(set(args.shapes.split(",")) - set(SHAPES)):
            parser.error(f"unknown --shapes {', '.join(unknown)}; choose from {', '.join(SHAPES)}")
        shapes = tuple(SHAPES[name] for name in args.shapes.split(","))
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be a positive integer, got {args.repeats}")
    result = measure(
        shapes,
        args.densities or ((1.0, 0.5) if args.dry_run else DENSITIES),
        device="cuda" if gpu else "cpu",
        repeats=args.repeats or (1 if args.dry_run else None),
        flex=args.flex or ("eager" if args.dry_run else "compiled"),
        methods=not args.no_methods,
        progress=lambda partial: write_result(partial, args.out, markdown=kernel_table(partial)),
    )
    print(kernel_table(result))
    print(f"\nwrote {write_result(result, args.out, markdown=kernel_table(result))}")


if __name__ == "__main__":
    main()
