"""Plain-torch reference for block-sparse attention: expand the layout to a token mask and run a
dense masked softmax in fp32 (or fp64). For tests; memory is O(Sq x Sk)."""

from __future__ import annotations

import torch

from dit_accel.kernels.blocks import csr_block_mask, num_blocks


def expand_block_mask(
    kv_counts: torch.Tensor, kv_indices: torch.Tensor, q_len: int, kv_len: int, block_q: int, block_k: int
) -> torch.Tensor:
    """Token mask bool `[Bl, Hl, q_len, kv_len]` from CSR counts `[Bl, Hl, nq]` / indices
    `[Bl, Hl, nq, max_k]`."""
    blocks = csr_block_mask(kv_counts, kv_indices, num_blocks(kv_len, block_k))
    blocks = blocks.repeat_interleave(block_q, dim=2)[:, :, :q_len]
    return blocks.repeat_interleave(block_k, dim=3)[..., :kv_len]


def block_sparse_attention_naive(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
    compute_dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]` -> (out `[B, Sq, H, D]` in q.dtype, lse float32 `[B, H, Sq]`).

    Rows with no key blocks give zeros and lse = -inf.
    """
    mask = expand_block_mask(kv_counts, kv_indices, q.shape[1], k.shape[1], block_q, block_k)
    qf, kf, vf = (t.to(compute_dtype).transpose(1, 2) for t in (q, k, v))  # [B, H, S, D]
    scores = (qf @ kf.transpose(-1, -2)) * scale  # [B, H, Sq, Sk]
    scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # [B, H, Sq]
    probs = torch.exp(scores - lse.unsqueeze(-1)).nan_to_num(0.0)
    out = (probs @ vf).transpose(1, 2)
    return out.to(q.dtype), lse.to(torch.float32)
