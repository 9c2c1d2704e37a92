"""Block-sparse attention vs SDPA dense vs FlexAttention (same layout), at real DiT shapes.

    python benchmarks/attention.py            # GPU shapes on CUDA, a reduced CPU set otherwise
    python benchmarks/attention.py --cpu      # force the CPU set

Prints a markdown table and writes JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dit_accel.eval.kernel_speed import CPU_SHAPES, DENSITIES, GPU_SHAPES, format_table, measure, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run the reduced CPU set even if CUDA is present")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="JSON folder")
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and not args.cpu
    result = measure(GPU_SHAPES if gpu else CPU_SHAPES, DENSITIES, device="cuda" if gpu else "cpu")
    print(format_table(result))
    print(f"\nwrote {write_result(result, args.out)}")


if __name__ == "__main__":
    main()
