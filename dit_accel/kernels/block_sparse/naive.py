"""Plain-torch reference for block-sparse attention: expand the layout to a token mask and run a
dense masked softmax in fp32 (or fp64). For tests; memory is O(Sq x Sk). Blocks are either of one
size (`block_q`, `block_k`) or of per-block sizes given by offsets."""

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


def token_blocks(offsets: torch.Tensor, length: int) -> torch.Tensor:
    """Long `[..., length]` block id of every token, for block offsets int32 `[..., n + 1]` (0 first,
    `length` last, non-decreasing; empty blocks own no token)."""
    tokens = torch.arange(length, device=offsets.device, dtype=offsets.dtype)
    ends = offsets[..., 1:].contiguous()
    return torch.searchsorted(ends, tokens.expand(*ends.shape[:-1], length).contiguous(), right=True)


def expand_var_block_mask(
    kv_counts: torch.Tensor, kv_indices: torch.Tensor, q_offsets: torch.Tensor, k_offsets: torch.Tensor
) -> torch.Tensor:
    """Token mask bool `[Bl, Hl, q_len, kv_len]` from CSR counts `[Bl, Hl, nq]` / indices
    `[Bl, Hl, nq, max_k]` over blocks with offsets `[Bl, Hl, nq + 1]` (queries) and `[Bl, Hl, nk + 1]`
    (keys)."""
    q_len, kv_len = int(q_offsets[0, 0, -1]), int(k_offsets[0, 0, -1])
    blocks = csr_block_mask(kv_counts, kv_indices, k_offsets.shape[-1] - 1)  # [Bl, Hl, nq, nk]
    rows = token_blocks(q_offsets, q_len)  # [Bl, Hl, q_len]
    cols = token_blocks(k_offsets, kv_len)  # [Bl, Hl, kv_len]
    by_row = blocks.gather(2, rows.unsqueeze(-1).expand(-1, -1, -1, blocks.shape[-1]))
    return by_row.gather(3, cols.unsqueeze(2).expand(-1, -1, q_len, -1))


def masked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor,
    scale: float,
    compute_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense softmax attention under a token mask bool `[Bl, Hl, Sq, Sk]` (broadcast over batch and
    heads): q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]` -> (out in q.dtype, lse float32 `[B, H, Sq]`)."""
    qf, kf, vf = (t.to(compute_dtype).transpose(1, 2) for t in (q, k, v))  # [B, H, S, D]
    scores = (qf @ kf.transpose(-1, -2)) * scale  # [B, H, Sq, Sk]
    scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # [B, H, Sq]
    probs = torch.exp(scores - lse.unsqueeze(-1)).nan_to_num(0.0)
    out = (probs @ vf).transpose(1, 2)
    return out.to(q.dtype), lse.to(torch.float32)


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
    return masked_attention(q, k, v, mask, scale, compute_dtype)


def var_block_sparse_attention_naive(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    q_offsets: torch.Tensor,
    k_offsets: torch.Tensor,
    scale: float,
    compute_dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """As `block_sparse_attention_naive`, over blocks with per-(batch|1, head|1) offsets
    `[Bl, Hl, nq + 1]` / `[Bl, Hl, nk + 1]`; tokens of rows with no keys give zeros and lse = -inf."""
    mask = expand_var_block_mask(kv_counts, kv_indices, q_offsets, k_offsets)
    return masked_attention(q, k, v, mask, scale, compute_dtype)
