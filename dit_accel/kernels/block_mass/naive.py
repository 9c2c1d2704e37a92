"""Dense reference for the block attention mass: the full softmax in float64, summed per block pair.
For tests; memory is O(Sq x Sk)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dit_accel.kernels.blocks import num_blocks


def key_block_sums(probs: torch.Tensor, block_k: int) -> torch.Tensor:
    """`[B, H, R, Sk]` -> `[B, H, R, ceil(Sk / block_k)]`: each row's sum over every key block. Reads
    `probs` once, without padding the large tensor."""
    s = probs.shape[-1]
    full = s // block_k * block_k
    sums = probs[..., :full].unflatten(-1, (full // block_k, block_k)).sum(-1)  # [B, H, R, full blocks]
    if full < s:
        sums = torch.cat((sums, probs[..., full:].sum(-1, keepdim=True)), -1)
    return sums


def query_block_means(sums: torch.Tensor, block_q: int) -> torch.Tensor:
    """Per-row key-block sums `[B, H, R, nk]` -> `[B, H, ceil(R / block_q), nk]`: summed over each query
    block and divided by its number of real rows (the tail is short)."""
    b, h, r, nk = sums.shape
    nq = num_blocks(r, block_q)
    sums = F.pad(sums, (0, 0, 0, nq * block_q - r))
    rows = (r - torch.arange(nq, device=sums.device) * block_q).clamp(max=block_q)
    return sums.view(b, h, nq, block_q, nk).sum(3) / rows.view(nq, 1)


def mass_from_probs(probs: torch.Tensor, block_q: int, block_k: int) -> torch.Tensor:
    """Softmax probabilities `[B, H, R, Sk]` -> `[B, H, ceil(R / block_q), ceil(Sk / block_k)]`: each block
    pair's sum divided by the query block's number of real rows."""
    return query_block_means(key_block_sums(probs, block_k), block_q)


def block_attention_mass_naive(
    q: torch.Tensor,
    k: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
    lse: torch.Tensor | None = None,
) -> torch.Tensor:
    """q `[B, Sq, H, D]`, k `[B, Sk, H, D]`, optional lse `[B, H, Sq]` -> float32 `[B, H, nq, nk]`:
    softmax probability summed over each (query block, key block) pair, divided by the query block's
    number of real rows."""
    qf, kf = (t.double().transpose(1, 2) for t in (q, k))  # [B, H, S, D]
    scores = (qf @ kf.transpose(-1, -2)) * scale  # [B, H, Sq, Sk]
    row_lse = scores.logsumexp(-1) if lse is None else lse.double()
    probs = torch.exp(scores - row_lse.unsqueeze(-1))
    return mass_from_probs(probs, block_q, block_k).float()
