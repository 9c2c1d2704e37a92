"""Axis orders: the six ways to read a `frames x height x width` video, as token permutations.

Reading the video with a different axis innermost turns one kind of head into a block-local one:
with frames innermost ("hwf"), tokens at the same place in consecutive frames become neighbours,
so a "same place across frames" head attends inside a few contiguous blocks (PAROAttention).
"""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid

# Outermost to innermost; "fhw" is diffusers' natural frame-major order.
AXIS_ORDERS: tuple[str, ...] = ("fhw", "fwh", "hfw", "hwf", "wfh", "whf")


def axis_permutation(grid: TokenGrid, order: str, device: torch.device | str | None = None) -> torch.Tensor:
    """Long `[S]`: position i of the sequence read in `order` holds token `perm[i]`; text stays put."""
    if order not in AXIS_ORDERS:
        raise ValueError(f"order must be one of {', '.join(AXIS_ORDERS)}, got {order!r}")
    video = torch.arange(grid.video_len, device=device).view(grid.frames, grid.height, grid.width)
    video = video.permute(*("fhw".index(axis) for axis in order)).reshape(-1)
    perm = torch.arange(grid.seq_len, device=device)
    perm[grid.video_slice] = video + grid.video_start
    return perm


def axis_permutations(grid: TokenGrid, device: torch.device | str | None = None) -> torch.Tensor:
    """Long `[6, S]`: `axis_permutation` for every entry of AXIS_ORDERS, in that order."""
    return torch.stack([axis_permutation(grid, order, device) for order in AXIS_ORDERS])
