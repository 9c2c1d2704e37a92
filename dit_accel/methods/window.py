"""Window: a static 3-D sliding-tile window (Sliding Tile Attention style), in tile order."""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods.tiled import StaticTileMethod
from dit_accel.patterns.tiles import TileOrder
from dit_accel.patterns.window import window_block_mask


class Window(StaticTileMethod):
    """Each query tile reads the key tiles inside a 3-D window around it.

    window:     (frames, rows, cols) in tokens, each a positive integer; the window is centred on
                the query tile and shifted inward at the grid's edges, so a window at least as
                large as the grid is dense. Sizes that are multiples of the tile shape
                (`dit_accel.patterns.tiles.tile_shape`, 8 x 8 for 64-token blocks) select whole tiles.
    block_size: tokens per block (one tile): 16, 32, 64, 128 or 256.
    Text rows and columns are dense and the diagonal is always kept. The mask is built once per
    (grid, device) and cached here.
    """

    name = "window"

    def __init__(self, window: tuple[int, int, int] = (9, 24, 32), block_size: int = 64) -> None:
        window = tuple(window) if isinstance(window, (tuple, list)) else window
        if (
            not isinstance(window, tuple)
            or len(window) != 3
            or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in window)
        ):
            raise ValueError(
                f"window must be three positive integers (frames, rows, cols) in tokens, got {window!r}"
            )
        self.window: tuple[int, int, int] = window
        super().__init__(block_size)

    def _block_mask(self, order: TileOrder, grid: TokenGrid) -> torch.Tensor:
        return window_block_mask(order, grid, self.window)

    def options(self) -> dict[str, tuple[int, int, int] | int]:
        return {"window": self.window, "block_size": self.block_size}
