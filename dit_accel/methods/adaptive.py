"""Adaptive: AdaSpa / SparseD style - the exact block attention mass picks each head's blocks."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid
from dit_accel.kernels.block_mass import block_attention_mass
from dit_accel.layout import BlockLayout
from dit_accel.methods.base import Method, Plan, block_size_option, mass_option
from dit_accel.patterns.selection import select_blocks
from dit_accel.patterns.text import keep_blocks


@dataclass(frozen=True)
class Adaptive(Method):
    """Per call, the exact softmax mass of every block pair (`block_attention_mass`, about the cost
    of one dense attention) chooses, for each batch sample, head and query block, the fewest key blocks that
    hold `mass` of the row. Concentrated heads so get small budgets and diffuse heads large ones.

    Text rows and columns and the diagonal are always kept (and count toward the mass). The search
    costs about one dense attention, so the pipeline layer runs it at a few steps and reuses the
    plan in between (patterns barely change across denoising steps).
    """

    name = "adaptive"
    static = False

    mass: float = mass_option(0.9, "share of each query block's attention the kept key blocks must hold")
    block_size: int = block_size_option()

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        """Plan from the exact block mass of q/k `[B, S, H, D]`; the layout has batch B. Always a fresh
        search: reuse across steps is the pipeline layer's decision."""
        grid.check(q.shape[1])
        block = self.block_size
        scores = block_attention_mass(q, k, block, block)  # [B, H, nq, nk]
        mask = select_blocks(scores, mass=self.mass, keep=keep_blocks(grid, block, q.device))
        layout = BlockLayout.from_mask(mask, grid.seq_len, grid.seq_len, block, block)
        return Plan(layout=layout, grid=grid)
