"""Token permutations: gather tokens into a new order and scatter them back.

A permutation is a long tensor `[Bp, S, Hp]` (Bp in {1, B}, Hp in {1, H}) with
`permuted[b, i, h] = x[b, perm[b, i, h], h]`.
"""

from __future__ import annotations

import torch


def _index(perm: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    b, s, h, d = x.shape
    return perm.unsqueeze(-1).expand(b, s, h, d)


def permute_tokens(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Reorder `x [B, S, H, D]` along S by `perm [Bp, S, Hp]`."""
    if perm.shape[0] == 1 and perm.shape[2] == 1:
        return x.index_select(1, perm[0, :, 0])
    return torch.gather(x, 1, _index(perm, x))


def unpermute_tokens(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Inverse of `permute_tokens`: put `x [B, S, H, D]` back in the original order."""
    if perm.shape[0] == 1 and perm.shape[2] == 1:
        out = torch.empty_like(x)
        out.index_copy_(1, perm[0, :, 0], x)
        return out
    return torch.empty_like(x).scatter_(1, _index(perm, x), x)


def invert_permutation(perm: torch.Tensor) -> torch.Tensor:
    """The permutation `inv` with `inv[perm[i]] = i` along dim 1 of `perm [Bp, S, Hp]`."""
    positions = torch.arange(perm.shape[1], device=perm.device).view(1, -1, 1).expand_as(perm)
    return torch.empty_like(perm).scatter_(1, perm, positions)
