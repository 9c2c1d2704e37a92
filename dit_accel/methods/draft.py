"""Draft: DraftAttention (shawnricecake/draft-attention) - pooled q/k pick the key blocks per call."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.methods.base import (
    Method,
    Plan,
    block_size_option,
    check_budget,
    density_option,
    mass_option,
)
from dit_accel.options import flag
from dit_accel.patterns.permutation import permute_tokens
from dit_accel.patterns.pooling import pooled_block_scores
from dit_accel.patterns.selection import select_blocks
from dit_accel.patterns.text import keep_blocks
from dit_accel.patterns.tiles import tile_permutation


@dataclass(frozen=True)
class Draft(Method):
    """Per-call block selection from a low-resolution (block-pooled) attention map.

    Tokens are reordered so each block is a compact spatial tile (`dit_accel.patterns.tiles`);
    q and k are mean-pooled per block and the pooled map's softmax ranks the key blocks, keeping a
    `density` share or the blocks reaching `mass` of the pooled row (give one; neither: density 0.25).
    Text rows and columns and the diagonal are always kept (and count toward the budget). The
    layout has one entry per batch sample and head (cond and uncond inputs differ).
    """

    name = "draft"
    static = False

    density: float | None = density_option()
    mass: float | None = mass_option()
    per_head: bool = flag(False, "one budget per head instead of per query block (rows get different counts)")
    block_size: int = block_size_option()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_budget(self)

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        grid.check(q.shape[1])
        block = self.block_size
        perm = tile_permutation(grid, block, q.device)
        keep = keep_blocks(grid, block, q.device)
        scores = pooled_block_scores(permute_tokens(q, perm), permute_tokens(k, perm), block)
        mask = select_blocks(scores, self.density, self.mass, keep, per_head=self.per_head)
        layout = BlockLayout.from_mask(mask, grid.seq_len, grid.seq_len, block, block)
        return Plan(layout=layout, grid=grid, permutation=perm)
