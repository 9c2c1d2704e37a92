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
from dit_accel.options import choice, integer
from dit_accel.patterns.axes import axis_permutations
from dit_accel.patterns.kmeans import cluster_block_scores, cluster_permutation, kmeans
from dit_accel.patterns.permutation import permute_tokens
from dit_accel.patterns.pooling import pool_blocks, pooled_block_scores
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
    order "semantic" (Sparse VideoGen 2): k-means on keys and on queries per head. One permutation
    serves q and k, so the video tokens are sorted by key cluster alone: a key block must be
    homogeneous to be skipped whole, while a mixed query block only needs the union of its queries'
    key blocks, which the query clusters estimate (`patterns.kmeans.cluster_block_scores`).
    `plan.state["centroids"]`: {"k": [B, H, Ck, D], "q": [B, H, Cq, D]} fp32, for warm starts.
    """

    name = "reordered"
    static = False

    order: str = choice("axes", "token order: best axis order per head, or key clusters (k-means)", ORDERS)
    density: float | None = density_option()
    mass: float | None = mass_option()
    block_size: int = block_size_option()
    q_clusters: int | None = integer(
        None, "semantic: query clusters per head (None: one per block of video tokens)", 1, optional=True
    )
    k_clusters: int | None = integer(
        None, "semantic: key clusters per head (None: one per block of video tokens)", 1, optional=True
    )
    iters: int = integer(25, "semantic: k-means iterations of a cold start", 1)
    warm_iters: int = integer(2, "semantic: k-means iterations when the previous plan holds centroids", 0)

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
            scores = pooled_block_scores(q.index_select(1, perm), k.index_select(1, perm), self.block_size)
            mask = self._select(scores, keep)
            if self.density is not None:
                quality.append((scores * mask).sum(-1).mean(-1))  # pooled mass captured, [B, H]
            else:
                quality.append(-mask.sum(-1, dtype=torch.float32).mean(-1))  # fewer blocks is better
        best = torch.stack(quality).argmax(0)  # [B, H]; the first maximum, so ties keep "fhw"
        return perms[best].transpose(1, 2), {"axis_order": best}

    def _semantic(
        self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Permutation `[B, S, H]` sorting video tokens by key cluster, the query-cluster estimate of
        the block mass `[B, H, n, n]`, and the state holding the centroids."""
        b, _, h, d = q.shape
        blocks = num_blocks(grid.video_len, self.block_size)
        counts = {"k": self.k_clusters or blocks, "q": self.q_clusters or blocks}
        warm = previous.state.get("centroids", {}) if previous is not None else {}
        centroids, labels = {}, {}
        for name, x in (("k", k), ("q", q)):
            count = min(counts[name], grid.video_len)
            points = x[:, grid.video_slice].transpose(1, 2).reshape(b * h, grid.video_len, d)
            init = warm.get(name)
            if init is not None and init.shape == (b, h, count, d) and init.device == x.device:
                c, labels[name] = kmeans(points, count, self.warm_iters, init.reshape(b * h, count, d))
            else:
                c, labels[name] = kmeans(points, count, self.iters)
            centroids[name] = c
        perm = cluster_permutation(grid, labels["k"], centroids["k"].shape[1])  # [B*H, S]
        k_pooled = pool_blocks(permute_tokens(k, perm.view(b, h, -1).transpose(1, 2)), self.block_size)
        scores = cluster_block_scores(
            perm, labels["q"], centroids["q"], k_pooled.flatten(0, 1), grid, self.block_size
        )
        state = {"centroids": {name: c.view(b, h, *c.shape[1:]) for name, c in centroids.items()}}
        return perm.view(b, h, -1).transpose(1, 2), scores.view(b, h, *scores.shape[1:]), state

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        """Permute, score, select; `previous` (order="semantic") warm-starts k-means from its centroids."""
        grid.check(q.shape[1])
        block = self.block_size
        keep = keep_blocks(grid, block, q.device)
        if self.order == "axes":
            perm, state = self._axes(q, k, grid, keep)
            scores = pooled_block_scores(permute_tokens(q, perm), permute_tokens(k, perm), block)
        else:
            perm, scores, state = self._semantic(q, k, grid, previous)
        mask = self._select(scores, keep)
        layout = BlockLayout.from_mask(mask, grid.seq_len, grid.seq_len, block, block)
        return Plan(layout=layout, grid=grid, permutation=perm, state=state)
