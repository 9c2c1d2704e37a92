"""Sliding-tile window: each query block reads the key blocks inside a 3-D window around it."""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.patterns.tiles import TileOrder


def window_block_mask(order: TileOrder, grid: TokenGrid, window: tuple[int, int, int]) -> torch.Tensor:
    """Bool `[n, n]` block mask: key blocks whose centroid lies in the query block's window.

    `window` is (frames, rows, cols) in tokens. Along each axis the window is the `window[a]`
    token positions centred on the query block's centroid, shifted inward at the grid's edges
    (as in Neighborhood / Sliding Tile Attention), so a window as large as the grid is dense.
    Text-only blocks get no entries here (their rows and columns are forced separately).
    """
    device = order.centroids.device
    sizes = torch.tensor([grid.frames, grid.height, grid.width], device=device)
    span = torch.minimum(torch.tensor(window, device=device), sizes)
    c = order.centroids  # [n, 3]
    start = torch.floor(c - (span - 1) / 2 + 0.5).clamp(min=0)
    start = torch.minimum(start, sizes - span)
    # Token t covers [t - 0.5, t + 0.5], so the window covers [start - 0.5, start + span - 0.5].
    low = (start - 0.5).unsqueeze(1)
    high = (start + span - 0.5).unsqueeze(1)
    inside = ((c.unsqueeze(0) >= low) & (c.unsqueeze(0) <= high)).all(-1)
    return inside & order.video.view(1, -1) & order.video.view(-1, 1)
