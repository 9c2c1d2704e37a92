"""`[B, S, H, D]` tensors as one `D`-row per (batch, token, head), so the torch paths gather tokens
straight from the inputs and scatter results straight back, with no permute copy."""

from __future__ import annotations

import torch


def flat_tokens(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`[B, S, H, D]` -> `[B*S*H, D]` in `dtype`, row (b*S + s)*H + h; a view when `x` is contiguous."""
    return x.to(dtype).contiguous().view(-1, x.shape[-1])


def token_row_ids(bh: torch.Tensor, tokens: torch.Tensor, seq_len: int, heads: int) -> torch.Tensor:
    """Rows of `flat_tokens` long `[..., n]` of tokens long `[..., n]` of the batch-heads bh long `[...]`
    (bh = b*H + h)."""
    return ((bh // heads * seq_len).unsqueeze(-1) + tokens) * heads + (bh % heads).unsqueeze(-1)
