"""Reordered: PAROAttention / Sparse VideoGen 2 style - permute tokens so a head's pattern becomes
block-local, then pick the key blocks from estimated block mass."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout, num_blocks
from dit_accel.methods.base import (
    Method,
    Plan,
    block_size_option,
    check_budget,
    density_option,
    mass_option,
)
from dit_accel.methods.semantic import semantic_layout
from dit_accel.options import choice, integer
from dit_accel.patterns.axes import axis_permutations
from dit_accel.patterns.permutation import permute_tokens
from dit_accel.patterns.pooling import pooled_block_scores
from dit_accel.patterns.selection import select_blocks
from dit_accel.patterns.text import keep_blocks

ORDERS = ("axes", "semantic")


@dataclass(frozen=True)
class Reordered(Method):
    """Tokens are permuted per batch sample and head so the head's pattern becomes block-local, then
    the key blocks are ranked by an estimate of the block attention mass and selected as in Draft
    (a `density` share or the blocks reaching `mass`; give one, neither: density 0.25).
    Text tokens stay in place and their rows and columns stay dense, as does the diagonal.

    order "axes" (PAROAttention): per head, the best of the six (f, h, w) axis orders
    (`patterns.axes.AXIS_ORDERS`), judged by the pooled mass the selection captures in each order
    (density=) or by how few blocks reach the mass (mass=); ties keep the natural order. Blocks are
    ranked by mean-pooled q/k as in Draft. `plan.state["axis_order"]`: long `[B, H]` index of each
    head's order.
    order "semantic" (Sparse VideoGen 2): k-means on queries and on keys per head; queries are sorted
    by query cluster, keys and values by key cluster, and every cluster is one block of its own size
    (`VarBlockLayout`; `methods.semantic`). density= is one budget of token pairs for the whole call,
    spent on the cluster pairs of highest estimated share per key token (size-weighted centroid
    scores), so heads with spread attention get more than focused ones; mass= keeps per query
    cluster the key clusters reaching that estimated share. Every query cluster also reads the key
    cluster holding most of its own tokens. Text is one block, dense both ways.
    `plan.state["centroids"]`: {"k": [B, H, Ck, D], "q": [B, H, Cq, D]} fp32, for warm starts.
    """

    name = "reordered"
    static = False

    order: str = choice(
        "axes", "token order: best axis order per head, or query and key clusters (k-means)", ORDERS
    )
    density: float | None = density_option()
    mass: float | None = mass_option()
    block_size: int = block_size_option()
    q_clusters: int | None = integer(
        None, "semantic: query clusters per head (None: one per block_size video tokens)", 1, optional=True
    )
    k_clusters: int | None = integer(
        None, "semantic: key clusters per head (None: two per block_size video tokens)", 1, optional=True
    )
    iters: int = integer(25, "semantic: k-means iterations of a cold start", 1)
    warm_iters: int = integer(2, "semantic: k-means iterations when the previous plan holds centroids", 0)
    min_cluster: int = integer(
        8, "semantic: clusters of fewer tokens merge into the nearest larger one (tiny blocks waste tiles)", 1
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_budget(self)

    def _select(self, scores: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return select_blocks(scores, density=self.density, mass=self.mass, keep=keep)

    def _axes(
        self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, keep: torch.Tensor
    ) -> tuple[torch.Tensor, dict]:
        """Permutation `[B, S, H]` of each (sample, head)'s best axis order, and its index `[B, H]`."""
        perms = axis_permutations(grid, q.device)  # [6, S]
        quality = []
        for perm in perms:
            scores = pooled_block_scores(q, k, self.block_size, order=perm)
            mask = self._select(scores, keep)
            if self.density is not None:
                quality.append((scores * mask).sum(-1).mean(-1))  # pooled mass captured, [B, H]
            else:
                quality.append(-mask.sum(-1, dtype=torch.float32).mean(-1))  # fewer blocks is better
        best = torch.stack(quality).argmax(0)  # [B, H]; the first maximum, so ties keep "fhw"
        return perms[best].transpose(1, 2), {"axis_order": best}

    def _semantic(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None) -> Plan:
        """Cluster-sized blocks with separate query and key orders (`methods.semantic`)."""
        blocks = num_blocks(grid.video_len, self.block_size)
        counts = (self.q_clusters or blocks, self.k_clusters or 2 * blocks)
        warm = previous.state.get("centroids", {}) if previous is not None else {}
        layout, q_perm, k_perm, centroids = semantic_layout(
            q, k, grid, counts, self.iters, self.warm_iters, self.min_cluster, self.density, self.mass, warm
        )
        state = {"centroids": centroids}
        return Plan(layout=layout, grid=grid, permutation=q_perm, key_permutation=k_perm, state=state)

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        """Permute, score, select; `previous` (order="semantic") warm-starts k-means from its centroids."""
        grid.check(q.shape[1])
        if self.order == "semantic":
            return self._semantic(q, k, grid, previous)
        block = self.block_size
        keep = keep_blocks(grid, block, q.device)
        perm, state = self._axes(q, k, grid, keep)
        scores = pooled_block_scores(permute_tokens(q, perm), permute_tokens(k, perm), block)
        mask = self._select(scores, keep)
        layout = BlockLayout.from_mask(mask, grid.seq_len, grid.seq_len, block, block)
        return Plan(layout=layout, grid=grid, permutation=perm, state=state)
