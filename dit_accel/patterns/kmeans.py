"""Batched k-means on the accelerator.

Fixed iteration counts and no convergence test: the loop never waits on the host, so on a GPU it
queues as fast as Python can launch it.
"""

from __future__ import annotations

import torch

# Bytes of fp32 distance scores per piece: on a CPU a piece stays in the cache while its argmax
# reads it (2.2x faster than 256 MiB pieces at the Wan 480p grid); on a GPU large pieces keep the
# launch count low.
_CPU_PIECE_BYTES = 4 * 2**20
_ACCELERATOR_PIECE_BYTES = 256 * 2**20


def evenly_spaced_init(x: torch.Tensor, clusters: int) -> torch.Tensor:
    """Initial centroids `[N, C, D]`: tokens at evenly spaced positions of x `[N, S, D]` (deterministic;
    on a raster-ordered video this spreads them over frames and space)."""
    index = torch.arange(clusters, device=x.device) * x.shape[1] // clusters
    return x[:, index].float()


def assign(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid (euclidean) of every point: x `[N, S, D]`, centroids `[N, C, D]` -> long `[N, S]`."""
    n, s, _ = x.shape
    centroids = centroids.float()
    # argmin ||x - c||^2 = argmax (x.c - ||c||^2 / 2): ||x||^2 is the same for every centroid.
    bias = -0.5 * centroids.square().sum(-1).unsqueeze(1)  # [N, 1, C]
    targets = centroids.transpose(1, 2)
    budget = _CPU_PIECE_BYTES if x.device.type == "cpu" else _ACCELERATOR_PIECE_BYTES
    rows = max(1, budget // (4 * centroids.shape[1]))
    heads, rows = max(1, rows // s), min(rows, s)
    labels = torch.empty(n, s, dtype=torch.long, device=x.device)
    for head in range(0, n, heads):
        part = slice(head, head + heads)
        for start in range(0, s, rows):
            piece = x[part, start : start + rows].float()
            labels[part, start : start + rows] = torch.baddbmm(bias[part], piece, targets[part]).argmax(-1)
    return labels


def update(x: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Mean of each cluster's points; an empty cluster keeps its centroid. Shapes as in `assign`."""
    n, clusters, d = centroids.shape
    slots = (labels + clusters * torch.arange(n, device=x.device).unsqueeze(1)).flatten()  # [N S]
    sums = centroids.new_zeros(n * clusters, d).index_add_(0, slots, x.reshape(-1, d).float())
    counts = torch.bincount(slots, minlength=n * clusters).view(n, clusters, 1)
    return torch.where(counts > 0, sums.view(n, clusters, d) / counts.clamp(min=1), centroids)


def kmeans(
    x: torch.Tensor, clusters: int, iters: int, init: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means, batched over N: x `[N, S, D]` -> (centroids fp32 `[N, C, D]`, labels long `[N, S]`).

    `init` `[N, C, D]` warm-starts (e.g. the previous denoising step's centroids); without it the
    centroids start at evenly spaced tokens. Each of the `iters` iterations assigns, then updates, and
    the loop stops after an update: the centroids returned are the means of the clusters the labels
    form (an empty cluster keeps its centroid), which is what the cluster scores need, at one
    assignment less than assigning again. `iters` = 0 only assigns the points to `init`.
    """
    centroids = evenly_spaced_init(x, clusters) if init is None else init.float()
    labels = assign(x, centroids)
    for step in range(iters):
        centroids = update(x, labels, centroids)
        if step + 1 < iters:
            labels = assign(x, centroids)
    return centroids, labels
