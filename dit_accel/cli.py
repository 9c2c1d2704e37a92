"""`dit-accel` command line: bench (kernel speed, attention quality)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dit_accel.eval.kernel_speed import CPU_SHAPES, DENSITIES, GPU_SHAPES, format_table, measure, write_result


def _bench(args: argparse.Namespace) -> int:
    import torch

    if args.quality:
        from dit_accel.eval.attention import format_table as quality_table
        from dit_accel.eval.attention import run_quality

        print(quality_table(run_quality(seed=args.seed)))
        return 0
    gpu = torch.cuda.is_available() and not args.cpu
    result = measure(GPU_SHAPES if gpu else CPU_SHAPES, DENSITIES, device="cuda" if gpu else "cpu", seed=args.seed)
    print(format_table(result))
    print(f"\nwrote {write_result(result, args.out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dit-accel", description="Sparse attention for diffusers DiTs.")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench",
        help="kernel speed (ours vs SDPA dense vs FlexAttention) or --quality (synthetic attention error)",
    )
    bench.add_argument("--quality", action="store_true", help="method error vs dense on synthetic attention")
    bench.add_argument("--cpu", action="store_true", help="run the reduced CPU set even if CUDA is present")
    bench.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    bench.add_argument(
        "--out", type=Path, default=Path("benchmarks/results"), help="folder for the JSON result"
    )
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
