"""Batched k-means on the accelerator.

Fixed iteration counts and no convergence test: the loop never waits on the host, so on a GPU it
queues as fast as Python can launch it.
"""

from __future__ import annotations

import torch

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
    # argmin ||x - c||^2 = argmax (x.c - ||c||^2 / 2) (||x||^2 is the same for every centroid), and
    # with a column of ones on x and -||c||^2 / 2 on c that is one matmul: a subtract and a scale
    # over the [rows, S, C] scores would cost 0.9x the matmul itself on a CPU.
    points = torch.cat((x.float(), x.new_ones(n, s, 1, dtype=torch.float32)), -1)
    targets = torch.cat((centroids.float(), -0.5 * centroids.float().square().sum(-1, keepdim=True)), -1)
    labels = []
    for start in range(0, n, rows):
        stop = start + rows
        labels.append((points[start:stop] @ targets[start:stop].transpose(1, 2)).argmax(-1))
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
