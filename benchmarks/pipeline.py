"""One Wan 2.1 transformer forward (random weights): stock SDPA vs each method, plus planning overhead.

    python benchmarks/pipeline.py               # CUDA: 1.3B at 81x480x832, 14B-shaped (8 blocks) at 720p
    python benchmarks/pipeline.py --models wan2.1-14b-720p --layers 12
    python benchmarks/pipeline.py --cpu         # reduced CPU set: 2 blocks, 9x16x16 tokens, fp32
    python benchmarks/pipeline.py --dry-run     # a tiny Wan transformer on the CPU: seconds

Prints markdown tables and writes them (.md) and the JSON under benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dit_accel.results import write_result
from dit_accel.speed.pipeline import measure, pipeline_table
from dit_accel.speed.pipeline_cases import CPU_CASES, GPU_CASES, TINY_CASES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run the reduced CPU set even if CUDA is present")
    parser.add_argument("--dry-run", action="store_true", help="a tiny Wan transformer on the CPU, 1 repeat")
    parser.add_argument("--models", help="comma-separated case names (default: every case of the set)")
    parser.add_argument("--layers", type=int, help="transformer blocks to build (default: per case)")
    parser.add_argument("--repeats", type=int, help="timed forwards per setting (default: 3 GPU, 2 CPU)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="result folder")
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and not (args.cpu or args.dry_run)
    cases = TINY_CASES if args.dry_run else GPU_CASES if gpu else CPU_CASES
    if args.models:
        names = args.models.split(",")
        known = {case.name for case in cases}
        if unknown := sorted(set(names) - known):
            parser.error(f"unknown --models {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
        cases = tuple(case for case in cases if case.name in names)
    for name in ("layers", "repeats"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    repeats = args.repeats or (1 if args.dry_run else None)
    result = measure(cases, device="cuda" if gpu else "cpu", layers=args.layers, repeats=repeats)
    table = pipeline_table(result)
    print(table)
    print(f"\nwrote {write_result(result, args.out, stem='pipeline', markdown=table)}")


if __name__ == "__main__":
    main()
