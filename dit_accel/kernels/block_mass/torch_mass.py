"""Block attention mass in plain PyTorch: exact softmax over chunks of query blocks, so memory stays
bounded while every score is computed once."""

from __future__ import annotations

import torch

from dit_accel.kernels.block_mass.naive import key_block_sums, query_block_means
from dit_accel.kernels.blocks import num_blocks

# Upper bound on the fp32 probability tensor of one chunk of query blocks.
_CHUNK_BYTES = 64 * 2**20


def block_attention_mass_torch(
    q: torch.Tensor,
    k: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
    lse: torch.Tensor | None = None,
) -> torch.Tensor:
    """q `[B, Sq, H, D]`, k `[B, Sk, H, D]`, optional lse `[B, H, Sq]` -> float32 `[B, H, nq, nk]`.

    Without `lse` each chunk takes its rows' logsumexp itself (the rows are complete there).
    """
    b, sq, h, _ = q.shape
    sk = k.shape[1]
    nq, nk = num_blocks(sq, block_q), num_blocks(sk, block_k)
    compute = torch.float64 if q.dtype == torch.float64 else torch.float32
    qh = q.transpose(1, 2).to(compute) * scale  # [B, H, Sq, D], scale folded in: no pass over the scores
    kt = k.permute(0, 2, 3, 1).to(compute)  # [B, H, D, Sk]
    mass = torch.empty(b, h, nq, nk, dtype=torch.float32, device=q.device)
    chunk = max(1, _CHUNK_BYTES // (b * h * block_q * nk * block_k * 4))
    for start in range(0, nq, chunk):
        stop = min(start + chunk, nq)
        rows = slice(start * block_q, min(stop * block_q, sq))
        probs = qh[:, :, rows] @ kt  # scores [B, H, r, Sk], exponentiated in place
        if lse is None:
            # exp(s - max) summed per key block, then each row divided by its total: normalizing the
            # small [r, nk] sums, not the scores, saves two passes over them (logsumexp would take three).
            probs.sub_(probs.amax(-1, keepdim=True)).exp_()
            sums = key_block_sums(probs, block_k)
            sums = sums / sums.sum(-1, keepdim=True)
        else:
            probs.sub_(lse[:, :, rows].to(compute).unsqueeze(-1)).exp_()
            sums = key_block_sums(probs, block_k)
        mass[:, :, start:stop] = query_block_means(sums, block_q)
    return mass
