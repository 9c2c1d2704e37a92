"""Reordered(order="semantic"): Sparse VideoGen 2's semantic-aware permutation with cluster-sized blocks.

Queries and keys are clustered separately (k-means per head, warm-started from the previous plan's
centroids); queries are sorted by query cluster, keys and values by key cluster, and every cluster
is one block of its own size (`VarBlockLayout`). The size-weighted centroid scores estimate each
query cluster's share of attention to each key cluster; the pairs of highest share per key token
are kept within one `density` budget for the whole call (so heads with spread attention get more
than focused ones), or per query cluster up to a `mass`; every query cluster also reads the key
cluster holding most of its own tokens.
"""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.patterns.clusters import (
    block_offsets,
    cluster_block_mask,
    cluster_scores,
    cluster_sizes,
    cluster_sort,
    merge_small_clusters,
    own_clusters,
    select_clusters,
)
from dit_accel.patterns.kmeans import kmeans
from dit_accel.var_layout import VarBlockLayout


def cluster_tokens(
    x: torch.Tensor, grid: TokenGrid, count: int, iters: int, warm_iters: int, init: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """k-means of the video tokens of x `[B, S, H, D]` per (sample, head): (centroids fp32 `[B, H, C, D]`,
    labels long `[N, L]`, points `[N, L, D]`); `init` `[B, H, C, D]` warm-starts with `warm_iters`."""
    b, _, h, d = x.shape
    points = x[:, grid.video_slice].transpose(1, 2).reshape(b * h, grid.video_len, d)
    if init is not None and init.shape == (b, h, count, d) and init.device == x.device:
        centroids, labels = kmeans(points, count, warm_iters, init.reshape(b * h, count, d))
    else:
        centroids, labels = kmeans(points, count, iters)
    return centroids.view(b, h, count, d), labels, points


def semantic_layout(
    q: torch.Tensor,
    k: torch.Tensor,
    grid: TokenGrid,
    counts: tuple[int, int],
    iters: int,
    warm_iters: int,
    min_cluster: int,
    density: float | None,
    mass: float | None,
    warm: dict[str, torch.Tensor],
) -> tuple[VarBlockLayout, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(layout, query order `[B, S, H]`, key order `[B, S, H]`, centroids {"q", "k"} `[B, H, C, D]`)
    for q/k `[B, S, H, D]`; `counts` = (query clusters, key clusters), at most the video length."""
    b, _, h, _ = q.shape
    centroids, labels, sizes, perms = {}, {}, {}, {}
    for name, x, count in (("q", q, counts[0]), ("k", k, counts[1])):
        count = min(count, grid.video_len)
        c, lab, points = cluster_tokens(x, grid, count, iters, warm_iters, warm.get(name))
        lab = merge_small_clusters(points, lab, c.flatten(0, 1), min_cluster)
        centroids[name], labels[name], sizes[name] = c, lab, cluster_sizes(lab, count)
        perms[name] = cluster_sort(grid, lab).view(b, h, -1).transpose(1, 2)
    # Centroids of merged-away clusters stay as they are, for the next warm start.
    scores = cluster_scores(centroids["q"].flatten(0, 1), centroids["k"].flatten(0, 1), sizes["k"])
    own = own_clusters(labels["q"], labels["k"], scores.shape[1], scores.shape[2])
    chosen = select_clusters(scores, sizes["q"], sizes["k"], own, density=density, mass=mass)
    mask = cluster_block_mask(grid, chosen)
    layout = VarBlockLayout.from_mask(
        mask.view(b, h, *mask.shape[1:]),
        block_offsets(grid, sizes["q"]).view(b, h, -1),
        block_offsets(grid, sizes["k"]).view(b, h, -1),
    )
    return layout, perms["q"], perms["k"], centroids
