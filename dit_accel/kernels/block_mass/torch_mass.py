"""Block attention mass in plain PyTorch: exact softmax over pieces of a few query rows of one
(sample, head), so every score is computed once and each piece's scores stay in the CPU cache."""

from __future__ import annotations

import torch

from dit_accel.kernels.block_mass.naive import key_block_sums
from dit_accel.kernels.blocks import block_sizes, num_blocks

# Upper bound on the scores of one piece: the GEMM writes them and the softmax and the key-block
# sums read them back from the cache (a piece far past it streams every pass from memory). Smaller
# pieces fit the L2 but make the GEMM repack the keys per few rows: 8 MiB was fastest on an EPYC.
_PIECE_BYTES = 8 * 2**20
# Fewer query rows than this make the GEMM read the keys more often than it computes.
_MIN_ROWS = 16


def block_attention_mass_torch(
    q: torch.Tensor,
    k: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
    lse: torch.Tensor | None = None,
) -> torch.Tensor:
    """q `[B, Sq, H, D]`, k `[B, Sk, H, D]`, optional lse `[B, H, Sq]` -> float32 `[B, H, nq, nk]`.

    Without `lse` each piece takes its rows' softmax itself (the rows are complete there).
    """
    b, sq, h, _ = q.shape
    sk = k.shape[1]
    nq, nk = num_blocks(sq, block_q), num_blocks(sk, block_k)
    compute = torch.float64 if q.dtype == torch.float64 else torch.float32
    # Scale folded into q: no pass over the scores. [B * H, S, D], contiguous rows for the GEMMs.
    qh = (q.transpose(1, 2).to(compute) * scale).reshape(b * h, sq, -1)
    kh = k.transpose(1, 2).to(compute).reshape(b * h, sk, -1)
    row_lse = None if lse is None else lse.to(compute).reshape(b * h, sq, 1)
    rows = max(_MIN_ROWS, _PIECE_BYTES // (sk * compute.itemsize))
    block_of_row = torch.arange(sq, device=q.device) // block_q
    sums = torch.zeros(b * h, nq, nk, dtype=compute, device=q.device)  # [N, nq, nk]
    scores = torch.empty(min(rows, sq), sk, dtype=compute, device=q.device)  # reused by every piece
    for n in range(b * h):
        keys = kh[n].t()  # [D, Sk]
        for start in range(0, sq, rows):
            stop = min(start + rows, sq)
            piece = torch.matmul(qh[n, start:stop], keys, out=scores[: stop - start])  # [r, Sk]
            if row_lse is None:
                probs = torch.softmax(piece, -1)
            else:
                probs = piece.sub_(row_lse[n, start:stop]).exp_()
            sums[n].index_add_(0, block_of_row[start:stop], key_block_sums(probs, block_k))
    rows_per_block = block_sizes(sq, block_q, compute, q.device).view(nq, 1)
    return (sums / rows_per_block).float().view(b, h, nq, nk)
