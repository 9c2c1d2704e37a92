"""Draft: DraftAttention (shawnricecake/draft-attention) - pooled q/k pick the key blocks per call."""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.methods.base import Method, Plan, check_block_size, check_budget
from dit_accel.patterns.permutation import permute_tokens
from dit_accel.patterns.pooling import pooled_block_scores
from dit_accel.patterns.selection import select_blocks
from dit_accel.patterns.text import keep_blocks
from dit_accel.patterns.tiles import tile_permutation


class Draft(Method):
    """Per-call block selection from a low-resolution (block-pooled) attention map.

    Tokens are reordered so each block is a compact spatial tile (`dit_accel.patterns.tiles`);
    q and k are mean-pooled per block and the pooled map's softmax ranks the key blocks.
    density:    keep the top `density` share of key blocks per query block, in (0, 1].
    mass:       instead keep, per query block, the fewest key blocks reaching this share of the
                pooled row's mass, in (0, 1]. Give exactly one; neither means density=0.25.
    per_head:   one budget per head instead of per row (rows of a head get different counts).
    block_size: tokens per block: 16, 32, 64, 128 or 256.
    Text rows and columns and the diagonal are always kept (and count toward the budget). The
    layout has one entry per batch sample and head (cond and uncond inputs differ).
    """

    name = "draft"
    static = False

    def __init__(
        self,
        density: float | None = None,
        mass: float | None = None,
        per_head: bool = False,
        block_size: int = 64,
    ) -> None:
        self.density, self.mass = check_budget(density, mass)
        if not isinstance(per_head, bool):
            raise ValueError(f"per_head must be True or False, got {per_head!r}")
        self.per_head = per_head
        self.block_size = check_block_size(block_size)
        self._cache: dict[tuple[TokenGrid, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        grid.check(q.shape[1])
        block = self.block_size
        key = (grid, q.device)
        if key not in self._cache:
            self._cache[key] = (tile_permutation(grid, block, q.device), keep_blocks(grid, block, q.device))
        perm, keep = self._cache[key]
        scores = pooled_block_scores(permute_tokens(q, perm), permute_tokens(k, perm), block)
        if self.per_head:
            b, h, nq, nk = scores.shape
            flat = select_blocks(
                scores.view(b, h, 1, nq * nk),
                density=self.density,
                mass=self.mass,
                keep=keep.reshape(1, 1, 1, nq * nk),
            )
            mask = flat.view(b, h, nq, nk)
        else:
            mask = select_blocks(scores, density=self.density, mass=self.mass, keep=keep)
        layout = BlockLayout.from_mask(mask, grid.seq_len, grid.seq_len, block, block)
        return Plan(layout=layout, grid=grid, permutation=perm)

    def options(self) -> dict[str, float | bool | int | None]:
        return {
            "density": self.density,
            "mass": self.mass,
            "per_head": self.per_head,
            "block_size": self.block_size,
        }
