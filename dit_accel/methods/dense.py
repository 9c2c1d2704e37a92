"""Dense: every block, through the same block-sparse path (the fair baseline for timing)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.methods.base import Method, Plan, block_size_option


@dataclass(frozen=True)
class Dense(Method):
    """Full attention computed by the block-sparse kernel with every block listed (not the model's stock
    attention: that is the `stock` setting of the CLI, which never enters our kernels)."""

    name = "dense"
    static = True

    block_size: int = block_size_option()

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        grid.check(q.shape[1])
        s = q.shape[1]
        layout = BlockLayout.dense(s, s, self.block_size, self.block_size, device=q.device)
        return Plan(layout=layout, grid=grid)
