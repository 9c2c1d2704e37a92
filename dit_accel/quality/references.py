"""The papers' own selections, written from their descriptions, to measure our methods against.

- `svg2_layout`: Sparse VideoGen 2 (svg-project/Sparse-VideoGen) - k-means on queries and on keys
  per head, tokens sorted by cluster (query and key orders separate), one block per cluster; per
  query cluster the key clusters sorted by the softmax of centroid scores weighted by key-cluster
  size, kept until the cumulative share passes `top_p` (the crossing cluster included) and at least
  `min_kc_ratio` of the key clusters. Text rows and columns dense.
- `radial_reference_mask`: Radial Attention's mask (mit-han-lab/radial-attention,
  `gen_log_mask_shrinked`) - per frame pair a 1-D band over the raster index within the frame,
  made into raster blocks of 128 tokens by its shrinking rule.
"""

from __future__ import annotations

import math

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


def _shrunk_band(
    tokens: int, block: int, row_shift: int, col_shift: int, half_width: int | None
) -> torch.Tensor:
    """Bool `[n, n]` (n = ceil(tokens / block)) blocks kept of one frame pair's band mask |r - c| <=
    half_width (None: all pairs) over in-frame raster indices, the frames starting `row_shift` /
    `col_shift` tokens into their first blocks. A block is kept when more than 60% of its columns that
    hold any pair hold pairs in more than a third of its rows; columns past n blocks are cut off."""
    n = -(-tokens // block)
    key = torch.arange(n * block) - col_shift  # in-frame key index of each column
    rows = torch.arange(n).view(-1, 1) * block - row_shift  # first in-frame query row of each row block
    lo, hi = rows.clamp(min=0), (rows + block).clamp(max=tokens) - 1
    if half_width is not None:
        lo, hi = torch.maximum(lo, key - half_width), torch.minimum(hi, key + half_width)
    pairs = (hi - lo + 1).clamp(min=0) * ((key >= 0) & (key < tokens))  # [n, n * block] rows per column
    pairs = pairs.view(n, n, block)
    return (pairs * 3 > block).sum(-1) > 0.6 * (pairs > 0).sum(-1)


def radial_reference_mask(
    frames: int, tokens_per_frame: int, decay: float, sink: bool, block: int = 128, text_len: int = 0
) -> torch.Tensor:
    """Bool `[n, n]` block mask of Radial Attention over raster blocks of `block` tokens (n = ceil of
    (video + text) / block; text last, its rows and columns dense).

    Frame pair (i, j), d = |i - j|, g = 2**d.bit_length(), P = 2**tokens_per_frame.bit_length():
    with the sink, key frame 0 is whole; else the band |r - c| <= w over in-frame raster indices,
    w = the frame for d <= 1, else max(decay * P / g, block); the pair is dropped when P / g < block
    and d is not a multiple of int(block * g / P). Each pair's band is shrunk to blocks
    (`_shrunk_band`) at its place and OR-ed in.
    """
    video = frames * tokens_per_frame
    n = -(-(video + text_len) // block)
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[video // block :] = True
    mask[:, video // block :] = True
    top = 1 << tokens_per_frame.bit_length()
    shrunk: dict[tuple[int, int, int | None], torch.Tensor] = {}
    for i in range(frames):
        for j in range(frames):
            d = abs(i - j)
            length = top / (1 << d.bit_length())
            if sink and j == 0:
                half_width = None
            elif length < block and d % int(block / length):
                continue
            else:
                half_width = None if d <= 1 else math.floor(max(decay * length, block))
            shifts = ((i * tokens_per_frame) % block, (j * tokens_per_frame) % block)
            if (*shifts, half_width) not in shrunk:
                shrunk[(*shifts, half_width)] = _shrunk_band(tokens_per_frame, block, *shifts, half_width)
            blocks = shrunk[(*shifts, half_width)]
            r, c = (i * tokens_per_frame) // block, (j * tokens_per_frame) // block
            part = mask[r : r + blocks.shape[0], c : c + blocks.shape[1]]
            part |= blocks[: part.shape[0], : part.shape[1]]
    return mask
