"""Dense: every block, through the same block-sparse path (the fair baseline for timing)."""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.methods.base import Method, Plan, check_block_size


class Dense(Method):
    """Full attention computed by the block-sparse kernel with every block listed."""

    name = "dense"
    static = True

    def __init__(self, block_size: int = 64) -> None:
        self.block_size = check_block_size(block_size)

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        grid.check(q.shape[1])
        s = q.shape[1]
        layout = BlockLayout.dense(s, s, self.block_size, self.block_size, device=q.device)
        return Plan(layout=layout, grid=grid)

    def options(self) -> dict[str, int]:
        return {"block_size": self.block_size}
