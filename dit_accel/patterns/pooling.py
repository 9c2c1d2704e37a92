"""Block pooling of queries and keys, and the pooled (low-resolution) attention map."""

from __future__ import annotations

import math

import torch

from dit_accel.kernels.blocks import block_sizes, num_blocks


def pool_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """Mean of each block of `block` consecutive tokens: x `[B, S, H, D]` -> `[B, H, n, D]`.

    The tail block is averaged over its real tokens only. Computed in fp32 (fp64 stays fp64).
    """
    b, s, h, d = x.shape
    n = num_blocks(s, block)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    padded = torch.nn.functional.pad(x.to(dtype), (0, 0, 0, 0, 0, n * block - s))
    sums = padded.view(b, n, block, h, d).sum(2)  # [B, n, H, D]
    counts = block_sizes(s, block, dtype, x.device)
    return (sums / counts.view(1, n, 1, 1)).permute(0, 2, 1, 3)


def pooled_block_scores(q: torch.Tensor, k: torch.Tensor, block: int) -> torch.Tensor:
    """Estimated attention share of each block pair, fp32 `[B, H, nq, nk]`, rows sum to 1.

    q/k `[B, S, H, D]` in block order: softmax of mean-pooled q . k^T / sqrt(D) over key blocks.
    """
    s, d = k.shape[1], k.shape[-1]
    logits = pool_blocks(q, block) @ pool_blocks(k, block).transpose(-1, -2) / math.sqrt(d)
    sizes = block_sizes(s, block, device=k.device)
    # A key block's share grows with its token count: only the tail block is smaller.
    return torch.softmax(logits.float() + sizes.log(), dim=-1)
