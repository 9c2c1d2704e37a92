"""Tile order: a token permutation that makes every block of `block_size` tokens a compact tile.

Each frame is cut into horizontal strips about `th` rows high (`tile_shape`; 1 row when the
frame is narrower than a tile); a strip is read column by column, so any `block_size`
consecutive tokens inside a strip form a `th x tw` rectangle (an exact tile when the grid
divides evenly). Strips alternate direction and odd frames visit the strips bottom-up, so the
run never jumps: a block that crosses a strip or frame boundary still covers neighbouring
tokens. This holds for any grid (13x17 per frame, 1 frame, 21 frames), without padding. Text
tokens keep their positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import num_blocks


def tile_shape(block_size: int) -> tuple[int, int]:
    """Near-square power-of-two tile (rows, cols) with rows * cols == block_size, rows <= cols."""
    rows = 1 << (block_size.bit_length() - 1) // 2
    return rows, block_size // rows


def _strip_of_row(grid: TokenGrid, block_size: int, device: torch.device | None) -> tuple[torch.Tensor, int]:
    """Strip index of each row `[height]` and the strip count; strip heights differ by at most one."""
    rows, cols = tile_shape(block_size)
    if grid.width < cols:
        # A frame narrower than a tile: whole rows (boustrophedon raster) make the most compact blocks.
        rows = 1
    strips = max(1, (2 * grid.height + rows) // (2 * rows))  # height / rows, rounded
    row = torch.arange(grid.height, device=device)
    return (row * strips) // grid.height, strips


def tile_permutation(
    grid: TokenGrid, block_size: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Long `[1, S, 1]` permutation (`permuted[i] = x[perm[i]]`) into tile order; text stays put."""
    f, h, w = grid.frames, grid.height, grid.width
    strip, strips = _strip_of_row(grid, block_size, device)
    frame = torch.arange(f, device=device).view(f, 1, 1)
    # Position of each strip in the visit order: top-down on even frames, bottom-up on odd ones.
    visit = torch.where(frame % 2 == 0, strip.view(1, h, 1), strips - 1 - strip.view(1, h, 1))
    run = frame * strips + visit  # global strip counter, [F, H, 1]
    col = torch.arange(w, device=device).view(1, 1, w)
    col = torch.where(run % 2 == 0, col, w - 1 - col)
    row = torch.arange(h, device=device).view(1, h, 1)
    key = (run * w + col) * h + row  # [F, H, W], unique per token
    order = key.flatten().argsort() + grid.video_start
    perm = torch.arange(grid.seq_len, device=device)
    perm[grid.video_slice] = order
    return perm.view(1, -1, 1)


def token_coords(grid: TokenGrid, perm: torch.Tensor) -> torch.Tensor:
    """Long `[S, 3]` (frame, row, col) of the token at each position of `perm [1, S, 1]`; -1 for text."""
    source = perm[0, :, 0] - grid.video_start
    video = (source >= 0) & (source < grid.video_len)
    source = source.clamp(0, grid.video_len - 1)
    hw = grid.tokens_per_frame
    coords = torch.stack((source // hw, (source % hw) // grid.width, source % grid.width), dim=-1)
    return torch.where(video.unsqueeze(-1), coords, -1)


@dataclass(frozen=True)
class TileOrder:
    """A grid in tile order and the geometry of its blocks.

    permutation: long `[1, S, 1]` tile order (see `tile_permutation`).
    coords:      long `[S, 3]` (frame, row, col) per permuted position, -1 for text tokens.
    video:       bool `[n]` blocks holding at least one video token.
    centroids:   float32 `[n, 3]` mean (frame, row, col) of each block's video tokens (0 if none).
    frame_lo, frame_hi: long `[n]` first and last frame among each block's video tokens (0 if none).
    """

    permutation: torch.Tensor
    coords: torch.Tensor
    video: torch.Tensor
    centroids: torch.Tensor
    frame_lo: torch.Tensor
    frame_hi: torch.Tensor

    @classmethod
    def build(cls, grid: TokenGrid, block_size: int, device: torch.device | str | None = None) -> TileOrder:
        perm = tile_permutation(grid, block_size, device)
        coords = token_coords(grid, perm)
        n = num_blocks(grid.seq_len, block_size)
        pad = n * block_size - grid.seq_len
        blocks = torch.nn.functional.pad(coords, (0, 0, 0, pad), value=-1).view(n, block_size, 3)
        is_video = blocks[..., 0] >= 0  # [n, block]
        count = is_video.sum(-1)
        video = count > 0
        total = torch.where(is_video.unsqueeze(-1), blocks, 0).sum(1).float()
        centroids = total / count.clamp(min=1).unsqueeze(-1)
        frames = blocks[..., 0]
        frame_lo = torch.where(is_video, frames, grid.frames).amin(-1)
        frame_hi = frames.amax(-1)
        return cls(
            perm,
            coords,
            video,
            centroids,
            torch.where(video, frame_lo, 0),
            torch.where(video, frame_hi, 0),
        )
