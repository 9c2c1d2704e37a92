"""Radial Attention's static energy-decay block mask, on blocks in tile order.

Frame pairs at most `dense_frames` apart are dense. A query in frame i reads, in frame j at
distance d = |i - j| >= 2, the keys within a disk on the (row, col) plane whose area is about
`decay * tokens_per_frame / 2**(floor(log2 d) - 1)` tokens: the whole-frame share `decay` at
d = 2..3, half of that at d = 4..7, and so on (as the reference's 1-D band, but by true 2-D
distance). Once that area drops below one block, the disk stays one block wide and only every
k-th frame distance is kept (k the power of two that restores the halving), so total work stays
O(n log n) in the frame count. Every kept frame pair keeps at least the key block nearest to the
query block. The optional sink lets every query read the blocks of frame 0.
"""

from __future__ import annotations

import math

import torch

from dit_accel.grid import TokenGrid
from dit_accel.patterns.tiles import TileOrder


def frame_distance_rules(
    grid: TokenGrid, block_size: int, decay: float, dense_frames: int
) -> tuple[list[float], list[bool]]:
    """Per frame distance d in [0, frames): disk radius in tokens (inf = dense) and whether kept."""
    radius, kept = [], []
    for d in range(grid.frames):
        if d <= dense_frames:
            radius.append(math.inf)
            kept.append(True)
            continue
        area = grid.tokens_per_frame * decay * 2.0 ** (2 - d.bit_length())
        period = 1
        if area < block_size:
            period = 1 << math.ceil(math.log2(block_size / area))
            area = float(block_size)
        radius.append(math.sqrt(area / math.pi))
        kept.append(d % period == 0)
    return radius, kept


def radial_block_mask(
    order: TileOrder, grid: TokenGrid, block_size: int, decay: float, sink: bool = True, dense_frames: int = 1
) -> torch.Tensor:
    """Bool `[n, n]` block mask over the video blocks of `order` (text and diagonal not included)."""
    device = order.centroids.device
    radius, kept = frame_distance_rules(grid, block_size, decay, dense_frames)
    lo, hi = order.frame_lo, order.frame_hi
    # Frame gap between blocks that may straddle two frames: the closest pair of their frames.
    gap = torch.maximum(lo.view(1, -1) - hi.view(-1, 1), lo.view(-1, 1) - hi.view(1, -1)).clamp(min=0)
    radius_of = torch.tensor(radius, device=device)[gap]
    kept_of = torch.tensor(kept, device=device)[gap]

    plane = order.centroids[:, 1:]
    dist = (plane.unsqueeze(1) - plane.unsqueeze(0)).square().sum(-1).sqrt()  # [n, n] tokens
    video = order.video.view(1, -1)
    dist = torch.where(video, dist, math.inf)
    n = dist.shape[0]
    key_frame = lo.view(1, -1).expand(n, n)
    nearest = torch.full((n, grid.frames), math.inf, device=device)
    nearest = nearest.scatter_reduce(1, key_frame, dist, reduce="amin")
    is_nearest = dist <= nearest.gather(1, key_frame)

    mask = kept_of & ((dist <= radius_of) | is_nearest) & video & order.video.view(-1, 1)
    if sink:
        mask |= video & (lo == 0).view(1, -1)
    return mask
