"""Batched k-means on the accelerator, and the token order that makes each cluster contiguous.

Fixed iteration counts and no convergence test: the loop never waits on the host, so on a GPU it
queues as fast as Python can launch it.
"""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.kernels.blocks import block_sizes
from dit_accel.patterns.permutation import invert_permutation

# Upper bound on the fp32 distance tensor of one chunk of rows.
_CHUNK_BYTES = 256 * 2**20


def evenly_spaced_init(x: torch.Tensor, clusters: int) -> torch.Tensor:
    """Initial centroids `[N, C, D]`: tokens at evenly spaced positions of x `[N, S, D]` (deterministic;
    on a raster-ordered video this spreads them over frames and space)."""
    index = torch.arange(clusters, device=x.device) * x.shape[1] // clusters
    return x[:, index].float()


def assign(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid (euclidean) of every point: x `[N, S, D]`, centroids `[N, C, D]` -> long `[N, S]`."""
    n, s, _ = x.shape
    rows = max(1, _CHUNK_BYTES // (s * centroids.shape[1] * 4))
    sq_norm = centroids.square().sum(-1).unsqueeze(1)  # [N, 1, C]
    labels = []
    for start in range(0, n, rows):
        stop = start + rows
        # ||x||^2 is the same for every centroid of a point, so it is left out of the argmin.
        dist = sq_norm[start:stop] - 2.0 * (x[start:stop].float() @ centroids[start:stop].transpose(1, 2))
        labels.append(dist.argmin(-1))
    return torch.cat(labels)


def update(x: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Mean of each cluster's points; an empty cluster keeps its centroid. Shapes as in `assign`."""
    n, _, d = x.shape
    sums = torch.zeros_like(centroids).scatter_add_(1, labels.unsqueeze(-1).expand(-1, -1, d), x.float())
    counts = torch.zeros(centroids.shape[:2], device=x.device).scatter_add_(
        1, labels, torch.ones(labels.shape, device=x.device)
    )
    return torch.where(counts.unsqueeze(-1) > 0, sums / counts.clamp(min=1).unsqueeze(-1), centroids)


def kmeans(
    x: torch.Tensor, clusters: int, iters: int, init: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means, batched over N: x `[N, S, D]` -> (centroids fp32 `[N, C, D]`, labels long `[N, S]`).

    `init` `[N, C, D]` warm-starts (e.g. the previous denoising step's centroids); without it the
    centroids start at evenly spaced tokens. `iters` = 0 only assigns the points to `init`.
    """
    centroids = evenly_spaced_init(x, clusters) if init is None else init.float()
    for _ in range(iters):
        centroids = update(x, assign(x, centroids), centroids)
    return centroids, assign(x, centroids)


def cluster_permutation(grid: TokenGrid, labels: torch.Tensor, clusters: int) -> torch.Tensor:
    """Long `[N, S]` token order that makes each cluster of `labels` `[N, video_len]` (values below
    `clusters`) contiguous; text tokens stay in place. Clusters follow each other by the mean raster
    index of their tokens and keep raster order inside, so a block that straddles two clusters holds
    tokens from nearby places."""
    n, length = labels.shape
    index = torch.arange(length, device=labels.device, dtype=torch.float64).expand(n, length)
    total = torch.zeros(n, clusters, dtype=torch.float64, device=labels.device).scatter_add_(1, labels, index)
    count = torch.zeros_like(total).scatter_add_(1, labels, torch.ones_like(index))
    centre = (total / count.clamp(min=1)).gather(1, labels)  # [N, L] mean index of each token's cluster
    # Two stable sorts: by label (raster order kept inside), then by centre (label breaks ties).
    by_label = torch.sort(labels, dim=-1, stable=True).indices
    by_centre = torch.sort(centre.gather(1, by_label), dim=-1, stable=True).indices
    perm = torch.arange(grid.seq_len, device=labels.device).repeat(n, 1)
    perm[:, grid.video_slice] = by_label.gather(1, by_centre) + grid.video_start
    return perm


def cluster_block_scores(
    perm: torch.Tensor,
    q_labels: torch.Tensor,
    q_centroids: torch.Tensor,
    k_pooled: torch.Tensor,
    grid: TokenGrid,
    block: int,
) -> torch.Tensor:
    """Estimated attention share of every block pair of the permuted sequence, fp32 `[N, n, n]`.

    perm `[N, S]` token order; q_labels long `[N, video_len]` (natural order); q_centroids fp32
    `[N, C, D]`; k_pooled `[N, n, D]` mean key of each permuted block. Each query cluster attends
    by the softmax of its centroid against the pooled key blocks (plus log block size); a query
    block's estimate is the mix of its queries' clusters. A block holding parts of two clusters so
    gets both clusters' needs, which one pooled (mean) query would blur. Rows of blocks without
    video queries are 0 (methods keep text rows dense).
    """
    n, s = perm.shape
    nb, c, d = k_pooled.shape[1], q_centroids.shape[1], q_centroids.shape[2]
    position = invert_permutation(perm.unsqueeze(-1)).squeeze(-1)  # [N, S] where each token went
    video_block = position[:, grid.video_slice] // block  # [N, L] block of each video token
    ones = torch.ones(video_block.shape, device=perm.device)
    mix = torch.zeros(n, nb * c, device=perm.device).scatter_add_(1, video_block * c + q_labels, ones)
    mix = mix.view(n, nb, c)
    mix = mix / mix.sum(-1, keepdim=True).clamp(min=1)  # [N, nb, C] query clusters of each block
    sizes = block_sizes(s, block, device=perm.device)  # [nb]
    logits = q_centroids @ k_pooled.float().transpose(1, 2) / d**0.5 + sizes.log()  # [N, C, nb]
    return mix @ torch.softmax(logits, dim=-1)
