"""Cluster-sized blocks (Sparse VideoGen 2 style): sort tokens by k-means cluster, one variable-size
block per cluster, and choose per query cluster the key clusters from size-weighted centroid scores.

Shapes: N = batch x heads, L = video tokens, Cq / Ck query / key clusters. Text tokens stay in place
and form one block of their own (first or last, as in the grid), dense in both directions.
"""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.patterns.kmeans import assign


def cluster_sizes(labels: torch.Tensor, clusters: int) -> torch.Tensor:
    """Tokens per cluster, long `[N, C]`, of labels long `[N, L]`."""
    return torch.zeros(labels.shape[0], clusters, dtype=torch.long, device=labels.device).scatter_add_(
        1, labels, torch.ones_like(labels)
    )


def merge_small_clusters(
    x: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor, min_size: int
) -> torch.Tensor:
    """Labels long `[N, L]` with the points of clusters under `min_size` tokens moved to the nearest
    cluster of at least `min_size` (x `[N, L, D]`, centroids fp32 `[N, C, D]`). Tiny clusters make
    tiny blocks, which waste most of a kernel tile; a head whose clusters are all small keeps its labels."""
    if min_size <= 1:
        return labels
    small = cluster_sizes(labels, centroids.shape[1]) < min_size  # [N, C]
    moving = small.gather(1, labels) & ~small.all(-1, keepdim=True)  # [N, L]
    counts = moving.sum(-1)  # [N]
    most = int(counts.max())
    if most == 0:
        return labels
    # Only the moving points are assigned: each head's first, padded to the longest head's count.
    order = moving.to(torch.uint8).argsort(dim=-1, descending=True, stable=True)[:, :most]  # [N, most]
    points = x.gather(1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    # A small cluster's centroid is moved out of reach so that the nearest one is a large cluster.
    far = centroids.masked_fill(small.unsqueeze(-1), float("inf")).nan_to_num(posinf=1e18)
    real = torch.arange(most, device=labels.device) < counts.unsqueeze(1)
    moved = torch.where(real, assign(points, far), labels.gather(1, order))
    return labels.scatter(1, order, moved)


def cluster_sort(grid: TokenGrid, labels: torch.Tensor) -> torch.Tensor:
    """Long `[N, S]` token order with the video tokens sorted by cluster (raster order inside a
    cluster) and the text tokens in place; labels long `[N, L]`."""
    order = torch.sort(labels, dim=-1, stable=True).indices + grid.video_start
    perm = torch.arange(grid.seq_len, device=labels.device).repeat(labels.shape[0], 1)
    perm[:, grid.video_slice] = order
    return perm


def block_offsets(grid: TokenGrid, sizes: torch.Tensor) -> torch.Tensor:
    """Block offsets int32 `[N, n + 1]` of the sorted sequence: one block per cluster (sizes long
    `[N, C]`), and one text block first or last when the grid has text (n = C or C + 1)."""
    parts = [sizes]
    if grid.text_len:
        text = sizes.new_full((sizes.shape[0], 1), grid.text_len)
        parts = [text, sizes] if grid.text_first else [sizes, text]
    sizes = torch.cat(parts, -1)
    return torch.cat((sizes.new_zeros(sizes.shape[0], 1), sizes.cumsum(-1)), -1).to(torch.int32)


def cluster_scores(
    q_centroids: torch.Tensor, k_centroids: torch.Tensor, k_sizes: torch.Tensor
) -> torch.Tensor:
    """Estimated attention share fp32 `[N, Cq, Ck]` of every key cluster for a query at each query
    centroid: the softmax of the centroid scores weighted by the key cluster sizes (a cluster of n
    alike keys draws about n times one key's share); empty clusters get 0."""
    d = q_centroids.shape[-1]
    logits = q_centroids @ k_centroids.transpose(1, 2) / d**0.5 + k_sizes.float().log().unsqueeze(1)
    return torch.softmax(logits, dim=-1).nan_to_num(0.0)


def own_clusters(
    q_labels: torch.Tensor, k_labels: torch.Tensor, q_clusters: int, k_clusters: int
) -> torch.Tensor:
    """Bool `[N, Cq, Ck]`: for each query cluster, the key cluster holding most of its own tokens
    (the cluster-level diagonal, which a token's attention to itself and its neighbours needs)."""
    n = q_labels.shape[0]
    pairs = torch.zeros(n, q_clusters * k_clusters, device=q_labels.device).scatter_add_(
        1, q_labels * k_clusters + k_labels, torch.ones(q_labels.shape, device=q_labels.device)
    )
    pairs = pairs.view(n, q_clusters, k_clusters)
    return torch.zeros_like(pairs, dtype=torch.bool).scatter_(-1, pairs.argmax(-1, keepdim=True), True)


def select_clusters(
    scores: torch.Tensor,
    q_sizes: torch.Tensor,
    k_sizes: torch.Tensor,
    keep: torch.Tensor,
    density: float | None = None,
    mass: float | None = None,
) -> torch.Tensor:
    """Bool `[N, Cq, Ck]` chosen cluster pairs from estimated shares scores `[N, Cq, Ck]` (each row
    sums to 1), cluster sizes long q_sizes `[N, Cq]` / k_sizes `[N, Ck]`; the `keep` pairs
    `[N, Cq, Ck]` always.

    density: one budget of `density` x N x L^2 token pairs for the whole call, spent on the pairs
             with the highest estimated share per key token (a pair is taken while the pairs before
             it plus half its own stay within the budget). Heads and query clusters whose attention
             is spread get more key clusters, focused ones fewer; `keep` makes sure no row is empty.
    mass:    per query cluster, the clusters of highest share per key token until their estimated
             share reaches `mass`.
    Exactly one of density and mass must be given.
    """
    if (density is None) == (mass is None):
        raise ValueError("give exactly one of density= and mass=")
    n, cq, ck = scores.shape
    k_size = k_sizes.float().unsqueeze(1).expand_as(scores)
    empty = (k_size == 0) | (q_sizes == 0).unsqueeze(-1)
    rank = torch.where(keep, torch.inf, scores / k_size.clamp(min=1)).masked_fill(empty, -1.0)
    if density is not None:
        cost = (k_size * q_sizes.float().unsqueeze(-1)).flatten()
        order = rank.flatten().argsort(descending=True)
        cost = cost[order]
        budget = density * n * float(k_sizes[0].sum()) * float(q_sizes[0].sum())
        chosen = cost.cumsum(0) - cost / 2 <= budget
        mask = torch.zeros(n * cq * ck, dtype=torch.bool, device=scores.device)
        mask = mask.scatter_(0, order, chosen).view(n, cq, ck)
    else:
        order = rank.argsort(dim=-1, descending=True)
        share = scores.gather(-1, order)
        chosen = share.cumsum(-1) - share < mass * share.sum(-1, keepdim=True)
        chosen[..., 0] = True
        mask = torch.zeros_like(keep).scatter_(-1, order, chosen)
    return (mask | keep) & ~empty


def cluster_block_mask(grid: TokenGrid, clusters: torch.Tensor) -> torch.Tensor:
    """Bool `[N, nq, nk]` block mask over the blocks of `block_offsets`: the chosen cluster pairs
    `[N, Cq, Ck]`, with the text block's row and column dense."""
    if not grid.text_len:
        return clusters
    n, cq, ck = clusters.shape
    mask = torch.ones(n, cq + 1, ck + 1, dtype=torch.bool, device=clusters.device)
    inner = slice(1, None) if grid.text_first else slice(0, -1)
    mask[:, inner, inner] = clusters
    return mask
