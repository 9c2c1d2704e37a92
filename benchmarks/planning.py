"""Planning time of each method vs one dense SDPA call of the same layer, at the Wan 2.1 480p grid.

    python benchmarks/planning.py             # 21x30x52 grid; 12 heads x 128 (Wan 2.1 1.3B) on CUDA, 3 on CPU
    python benchmarks/planning.py --heads 40 --grid 21x45x80
    python benchmarks/planning.py --dry-run   # tiny grid on the CPU: seconds

Prints a markdown table and writes it (.md) and the JSON under benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dit_accel.grid import TokenGrid
from dit_accel.results import write_result
from dit_accel.speed.kernels import WAN_480P
from dit_accel.speed.planning import measure, planning_table


def _grid(text: str) -> tuple[int, int, int]:
    try:
        frames, height, width = (int(x) for x in text.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"FRAMESxHEIGHTxWIDTH, e.g. 21x30x52, got {text!r}") from None
    return frames, height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if CUDA is present")
    parser.add_argument("--dry-run", action="store_true", help="tiny grid on the CPU, 1 repeat")
    parser.add_argument("--grid", type=_grid, help="video tokens FxHxW (default 21x30x52)")
    parser.add_argument("--heads", type=int, help="attention heads (default 12 on CUDA, 3 on CPU)")
    parser.add_argument("--head-dim", type=int, default=128, help="head dim (default 128)")
    parser.add_argument("--repeats", type=int, help="timed calls per row (default 10 GPU, 2 CPU)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="result folder")
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and not (args.cpu or args.dry_run)
    for name in ("heads", "head_dim", "repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    grid = TokenGrid(*(args.grid or ((4, 8, 16) if args.dry_run else WAN_480P)))
    result = measure(
        grid,
        args.heads or (12 if gpu else 3),
        args.head_dim,
        device="cuda" if gpu else "cpu",
        repeats=args.repeats or (1 if args.dry_run else None),
    )
    table = planning_table(result)
    print(table)
    print(f"\nwrote {write_result(result, args.out, stem='planning', markdown=table)}")


if __name__ == "__main__":
    main()
