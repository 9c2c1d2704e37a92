"""The papers' own selections, written from their descriptions, to measure our methods against.

- `svg2_layout`: Sparse VideoGen 2 (svg-project/Sparse-VideoGen) - k-means on queries and on keys
  per head, tokens sorted by cluster (query and key orders separate), one block per cluster; per
  query cluster the key clusters sorted by the softmax of centroid scores weighted by key-cluster
  size, kept until the cumulative share passes `top_p` (the crossing cluster included) and at least
  `min_kc_ratio` of the key clusters. Text rows and columns dense.
- `radial_reference_mask`: Radial Attention's mask (mit-han-lab/radial-attention,
  `gen_log_mask_shrinked`) - per frame pair a 1-D band over the raster index within the frame,
  made into 128-token raster blocks.
"""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods.semantic import cluster_tokens
from dit_accel.patterns.clusters import block_offsets, cluster_block_mask, cluster_sizes, cluster_sort
from dit_accel.var_layout import VarBlockLayout


def svg2_layout(
    q: torch.Tensor,
    k: torch.Tensor,
    grid: TokenGrid,
    q_clusters: int,
    k_clusters: int,
    top_p: float = 0.9,
    min_kc_ratio: float = 0.1,
    iters: int = 50,
) -> tuple[VarBlockLayout, torch.Tensor, torch.Tensor]:
    """(layout, query order `[B, S, H]`, key order `[B, S, H]`) of SVG2's selection for q/k `[B, S, H, D]`."""
    b, _, h, d = q.shape
    centroids, sizes, perms = [], [], []
    for x, count in ((q, q_clusters), (k, k_clusters)):
        c, labels, _ = cluster_tokens(x, grid, count, iters, 0, None)
        centroids.append(c.flatten(0, 1))
        sizes.append(cluster_sizes(labels, count))
        perms.append(cluster_sort(grid, labels).view(b, h, -1).transpose(1, 2))
    scores = centroids[0] @ centroids[1].transpose(1, 2) / d**0.5
    weights = sizes[1].float().unsqueeze(1)
    probs = weights * torch.exp(scores - scores.max(-1, keepdim=True).values)
    probs = probs / probs.sum(-1, keepdim=True).clamp(min=1e-12)
    sorted_probs, order = probs.sort(-1, descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs <= top_p
    keep[..., : max(1, int(min_kc_ratio * k_clusters))] = True
    chosen = torch.zeros_like(keep).scatter_(-1, order, keep)
    mask = cluster_block_mask(grid, chosen)
    layout = VarBlockLayout.from_mask(
        mask.view(b, h, *mask.shape[1:]),
        block_offsets(grid, sizes[0]).view(b, h, -1),
        block_offsets(grid, sizes[1]).view(b, h, -1),
    )
    return layout, perms[0], perms[1]
