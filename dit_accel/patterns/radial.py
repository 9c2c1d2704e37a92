"""Radial Attention's static energy-decay block mask, on blocks in tile order.

Frame pairs at most `dense_frames` apart are dense. A query block in frame i reads, in frame j at
distance d = |i - j| > dense_frames, as many keys as the reference (mit-han-lab/radial-attention)
reads there at the same `decay`, but by true 2-D distance: the key blocks of frame j nearest to the
query block on the (row, col) plane, as many as cover the reference's span. The reference's band
over raster indices has half-width w = max(decay * P / g, block) tokens (P the power of two above
the tokens per frame, g = 2**d.bit_length(): w halves each time d doubles), so one query block of
`block` rows reads about 2 w + block / 3 keys of the frame (the keys that more than a third of its
rows read: the reference keeps a block when most of its columns are read by a third of the rows),
less the band's cut at both ends of the frame. Where P / g < block, only every int(block * g / P)-th
frame distance is kept (whatever the decay; decay inf is dense), so total work stays O(n log n) in
the frame count. A fractional block count is spread over the query blocks (floor or ceiling). The
optional sink lets every query read the blocks of frame 0.

With the reference's decays this gives its mask densities within 10% (Wan 2.1 480p / 720p with
decay 0.2 and the sink, HunyuanVideo 720p with 0.95 and none; tests/test_radial_reference.py).
"""

from __future__ import annotations

import math

import torch

from dit_accel.grid import TokenGrid
from dit_accel.patterns.tiles import TileOrder

GOLDEN = (math.sqrt(5) - 1) / 2


def _kept(d: int, length: float, block_size: int) -> bool:
    """Whether frame distance d survives the reference's thinning (P / g = `length` tokens)."""
    return length >= block_size or d % int(block_size / length) == 0


def frame_distance_rules(
    grid: TokenGrid, block_size: int, decay: float, dense_frames: int
) -> tuple[list[float], list[bool]]:
    """Per frame distance d in [0, frames): key blocks read per key frame, fractional, at least one
    (inf = dense), and whether the distance is kept (see the module docstring)."""
    blocks, kept = [], []
    tokens = grid.tokens_per_frame
    top = 1 << tokens.bit_length()
    for d in range(grid.frames):
        length = top / (1 << d.bit_length())
        half = max(decay * length, block_size)
        if d <= dense_frames or half >= tokens:
            blocks.append(math.inf)
            kept.append(d <= dense_frames or math.isinf(decay) or _kept(d, length, block_size))
            continue
        # The band's mean width, cut at both ends of the frame, and a third of the query block's rows.
        span = 2 * half - half * half / tokens + block_size / 3
        blocks.append(max(1.0, min(span, tokens) / block_size))
        kept.append(_kept(d, length, block_size))
    return blocks, kept


def _nearest_rank(dist: torch.Tensor, key_frame: torch.Tensor, frames: int) -> torch.Tensor:
    """Long `[n, n]`: rank of each key block by distance `[n, n]` among the key blocks of its own
    frame (key_frame long `[n]`), per query block (0 = nearest)."""
    by_dist = dist.argsort(dim=-1, stable=True)
    order = by_dist.gather(-1, key_frame[by_dist].argsort(dim=-1, stable=True))  # frame-major, near first
    starts = torch.bincount(key_frame, minlength=frames).cumsum(0) - torch.bincount(
        key_frame, minlength=frames
    )
    position = torch.arange(dist.shape[1], device=dist.device).expand_as(order)
    rank = position - starts[key_frame[order]]
    return torch.empty_like(rank).scatter_(-1, order, rank)


def radial_block_mask(
    order: TileOrder, grid: TokenGrid, block_size: int, decay: float, sink: bool = True, dense_frames: int = 1
) -> torch.Tensor:
    """Bool `[n, n]` block mask over the video blocks of `order` (text and diagonal not included)."""
    device = order.centroids.device
    blocks, kept = frame_distance_rules(grid, block_size, decay, dense_frames)
    lo, hi = order.frame_lo, order.frame_hi
    # Frame gap between blocks that may straddle two frames: the closest pair of their frames.
    gap = torch.maximum(lo.view(1, -1) - hi.view(-1, 1), lo.view(-1, 1) - hi.view(1, -1)).clamp(min=0)
    blocks_of = torch.tensor(blocks, device=device)[gap]
    kept_of = torch.tensor(kept, device=device)[gap]

    plane = order.centroids[:, 1:]
    dist = (plane.unsqueeze(1) - plane.unsqueeze(0)).square().sum(-1)  # [n, n] squared tokens
    video = order.video.view(1, -1)
    dist = torch.where(video, dist, math.inf)
    # A block straddling two frames counts in its first one.
    rank = _nearest_rank(dist, lo, grid.frames)

    # A fractional count: query blocks read its floor or ceiling, spread evenly (golden-ratio offsets),
    # so the mean is the count itself.
    offset = (torch.arange(rank.shape[0], device=device) * GOLDEN) % 1.0
    mask = kept_of & (rank < (blocks_of + offset.view(-1, 1)).floor()) & video & order.video.view(-1, 1)
    if sink:
        mask |= video & (lo == 0).view(1, -1)
    return mask
