"""Window: a static 3-D sliding-tile window (Sliding Tile Attention style), in tile order."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods.base import block_size_option
from dit_accel.methods.tiled import StaticTileMethod
from dit_accel.options import integers
from dit_accel.patterns.tiles import TileOrder
from dit_accel.patterns.window import window_block_mask


@dataclass(frozen=True)
class Window(StaticTileMethod):
    """Each query tile reads the key tiles inside a 3-D window around it. The window is centred on the
    query tile and shifted inward at the grid's edges, so a window at least as large as the grid is
    dense. Sizes that are multiples of the tile shape (`dit_accel.patterns.tiles.tile_shape`, 8 x 8 for
    64-token blocks) select whole tiles. Text rows and columns are dense and the diagonal is always kept.
    """

    name = "window"

    window: tuple[int, int, int] = integers((9, 24, 32), "(frames, rows, cols) of the window, in tokens", 1)
    block_size: int = block_size_option()

    def _block_mask(self, order: TileOrder, grid: TokenGrid) -> torch.Tensor:
        return window_block_mask(order, grid, self.window)
