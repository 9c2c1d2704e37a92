"""StaticTileMethod: a static method whose block mask over tile-ordered tokens depends on the grid alone."""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.methods.base import Method, Plan
from dit_accel.patterns.text import keep_blocks
from dit_accel.patterns.tiles import TileOrder


class StaticTileMethod(Method):
    """Tokens reordered into tiles (`dit_accel.patterns.tiles`), one block per tile; subclasses (frozen
    dataclasses with a `block_size` option) give the mask over the video blocks in `_block_mask`, text rows
    and columns and the diagonal are added. Planning is pure: the runtime caches the plan per grid."""

    static = True
    block_size: int

    def _block_mask(self, order: TileOrder, grid: TokenGrid) -> torch.Tensor:
        """Bool `[n, n]` block mask over the video blocks of `order`."""
        raise NotImplementedError

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        grid.check(q.shape[1])
        order = TileOrder.build(grid, self.block_size, q.device)
        mask = self._block_mask(order, grid)
        mask = mask.view(1, 1, *mask.shape) | keep_blocks(grid, self.block_size, q.device)
        layout = BlockLayout.from_mask(mask, grid.seq_len, grid.seq_len, self.block_size, self.block_size)
        return Plan(layout=layout, grid=grid, permutation=order.permutation)
