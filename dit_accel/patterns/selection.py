"""Choose key blocks from a block score map: top-k by density, or the smallest set reaching a mass."""

from __future__ import annotations

import math

import torch


def select_blocks(
    scores: torch.Tensor,
    density: float | None = None,
    mass: float | None = None,
    keep: torch.Tensor | None = None,
    per_head: bool = False,
) -> torch.Tensor:
    """Bool block mask `[B, H, nq, nk]` from non-negative block scores `[B, H, nq, nk]`.

    density:  keep the top `ceil(density * nk)` blocks of each row.
    mass:     keep, per row, the fewest blocks whose scores reach `mass` of the row's total.
    keep:     bool `[B|1, H|1, nq, nk]` blocks that are always kept (diagonal, text); they count
              toward the budget and their scores are taken first.
    per_head: the budget is per head instead of per row: each head's whole map is one row, so its
              rows get different counts.
    Exactly one of density and mass must be given.
    """
    if (density is None) == (mass is None):
        raise ValueError("give exactly one of density= and mass=")
    if per_head:
        b, h, nq, nk = scores.shape
        flat_keep = None if keep is None else keep.reshape(*keep.shape[:2], 1, nq * nk)
        flat = select_blocks(scores.reshape(b, h, 1, nq * nk), density, mass, flat_keep)
        return flat.view(b, h, nq, nk)
    scores = scores.float()
    if keep is not None:
        # Forced blocks rank above every scored block but keep their real mass in the cumulative sum.
        rank = torch.where(keep, scores + scores.sum(-1, keepdim=True) + 1.0, scores)
    else:
        rank = scores
    nk = scores.shape[-1]
    if density is not None:
        count = max(1, math.ceil(density * nk))
        top = rank.topk(count, dim=-1).indices
        mask = torch.zeros_like(rank, dtype=torch.bool).scatter_(-1, top, True)
    else:
        order = rank.argsort(dim=-1, descending=True)
        sorted_scores = scores.gather(-1, order)
        total = sorted_scores.sum(-1, keepdim=True)
        before = sorted_scores.cumsum(-1) - sorted_scores  # mass of the blocks ranked above
        chosen = before < mass * total
        chosen[..., 0] = True
        mask = torch.zeros_like(rank, dtype=torch.bool).scatter_(-1, order, chosen)
    if keep is not None:
        mask |= keep
    return mask
