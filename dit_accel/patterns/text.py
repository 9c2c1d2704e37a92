"""Blocks every method keeps: text rows and columns, and the diagonal."""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import num_blocks


def text_blocks(grid: TokenGrid, block_size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Bool `[n]`: blocks holding at least one text token (text never moves under our permutations)."""
    n = num_blocks(grid.seq_len, block_size)
    first = torch.arange(n, device=device) * block_size
    last = (first + block_size).clamp(max=grid.seq_len) - 1
    text = grid.text_slice
    return (last >= text.start) & (first < text.stop)


def keep_blocks(grid: TokenGrid, block_size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Bool `[1, 1, n, n]` forced block pairs: text query rows, text key columns and the diagonal."""
    text = text_blocks(grid, block_size, device)
    diagonal = torch.eye(text.shape[0], dtype=torch.bool, device=device)
    return (diagonal | text.unsqueeze(0) | text.unsqueeze(1)).view(1, 1, *diagonal.shape)
