"""Block arithmetic every layer shares: how many blocks cover a length, each block's size, and a CSR
block list as a block mask and back."""

from __future__ import annotations

import torch


def num_blocks(length: int, block: int) -> int:
    """Number of blocks of size `block` that cover `length` tokens (last one may be partial)."""
    return -(-length // block)


def block_sizes(
    length: int, block: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Tokens in each of the `num_blocks(length, block)` blocks, `[n]` in `dtype`: `block` but the tail."""
    n = num_blocks(length, block)
    sizes = torch.full((n,), block, dtype=dtype, device=device)
    sizes[-1] = length - block * (n - 1)
    return sizes


def csr_block_mask(kv_counts: torch.Tensor, kv_indices: torch.Tensor, num_kv_blocks: int) -> torch.Tensor:
    """Bool block mask `[Bl, Hl, nq, nk]` from CSR counts `[Bl, Hl, nq]` and indices `[Bl, Hl, nq, max_k]`
    (entries past a row's count are ignored)."""
    device = kv_counts.device
    mask = torch.zeros(*kv_counts.shape, num_kv_blocks + 1, dtype=torch.bool, device=device)
    valid = torch.arange(kv_indices.shape[-1], device=device) < kv_counts.unsqueeze(-1)
    # Padded entries are routed to the extra column, which is dropped.
    mask.scatter_(-1, torch.where(valid, kv_indices.long(), num_kv_blocks), True)
    return mask[..., :num_kv_blocks]


def block_mask_csr(block_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(kv_counts int32 `[..., nq]`, kv_indices int32 `[..., nq, max_k]`, ascending, zero padded) of a
    bool block mask `[..., nq, nk]`; the inverse of `csr_block_mask`."""
    counts = block_mask.sum(-1, dtype=torch.int32)
    max_k = max(int(counts.max()), 1) if counts.numel() else 1
    # A stable sort of the negated mask lists the kept block ids first, in ascending order.
    order = torch.sort((~block_mask).to(torch.int8), dim=-1, stable=True).indices[..., :max_k]
    keep = torch.arange(max_k, device=block_mask.device) < counts.unsqueeze(-1)
    indices = torch.where(keep, order, torch.zeros_like(order)).to(torch.int32)
    return counts.contiguous(), indices.contiguous()
