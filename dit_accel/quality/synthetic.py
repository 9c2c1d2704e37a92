"""Synthetic video attention with known structure, for judging sparse methods without a model.

Each head's logit `q.k / sqrt(D)` is a sum of designed parts, built exactly as dot products of
bounded features (logits stay within about +-15, as in real models):
- position: per axis (f, h, w) a Gaussian-bump code of the coordinate; the codes' cosine similarity
  falls with distance, so attention decays with 3-D distance, at a per-head-type rate:
  "spatial" heads are local in all axes, "temporal" heads sharp in (h, w) and broad in f (a token
  attends to its own place across frames);
- "semantic" heads: every token belongs to a segment, one of a few moving objects or one of the
  static background regions, and attends to its whole segment in every frame (scattered in raster
  order), with a weak preference for nearby tokens;
- text keys that every video query sees a little; text queries look everywhere;
- a small random part; values are random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid

HEAD_TYPES = ("spatial", "temporal", "semantic")
_CENTRES = (8, 10, 10)  # bump centres per axis (f, h, w): the position code's dims
_OBJECTS = 4  # moving objects per video
_REGIONS = 8  # static background regions per video
_SEGMENT_DIMS = _OBJECTS + _REGIONS  # one orthonormal embedding per segment
_NOISE_DIMS = 16
_TEXT_DIM = sum(_CENTRES) + _SEGMENT_DIMS
_MIN_HEAD_DIM = _TEXT_DIM + 1 + _NOISE_DIMS
# Per head type: logit weight and code width (in tokens) of each axis (f, h, w).
_WEIGHTS = {"spatial": (4.0, 6.0, 6.0), "temporal": (1.5, 8.0, 8.0), "semantic": (4.0, 6.0, 6.0)}
_WIDTHS = {"spatial": (0.8, 1.2, 1.2), "temporal": (3.0, 0.7, 0.7), "semantic": (0.8, 1.0, 1.0)}
_SEGMENT_LOGIT = 6.0  # same-segment bonus of semantic heads
_SEGMENT_POSITION = 0.25  # share of the position weights semantic heads keep
_TEXT_LOGIT = -5.0  # text key logit from a video query, relative to an own-position key (-weights sum)


@dataclass(frozen=True)
class SyntheticAttention:
    """q, k, v float32 `[B, S, H, D]` on `grid`; `head_types[h]` names head h's type; `segments`
    long `[B, video_len]` is each video token's segment: objects first, then background regions."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    grid: TokenGrid
    head_types: tuple[str, ...]
    segments: torch.Tensor


def _coords(grid: TokenGrid) -> torch.Tensor:
    """Float `[video_len, 3]` (frame, row, col) of every video token in raster order."""
    f, h, w = torch.meshgrid(
        torch.arange(grid.frames), torch.arange(grid.height), torch.arange(grid.width), indexing="ij"
    )
    return torch.stack((f, h, w), -1).reshape(-1, 3).float()


def _axis_code(x: torch.Tensor, length: int, centres: int, width: float) -> torch.Tensor:
    """Unit-norm Gaussian-bump code `[n, centres]` of coordinates x `[n]` on an axis of `length`;
    codes of coordinates d apart have cosine similarity about exp(-d^2 / (4 width^2))."""
    centre = torch.linspace(0, length - 1, centres)
    # Bumps no narrower than their spacing, so the code varies smoothly between centres.
    width = max(width, 0.6 * (length - 1) / max(centres - 1, 1))
    code = torch.exp(-(x.unsqueeze(-1) - centre).square() / (2 * width**2))
    return code / code.norm(dim=-1, keepdim=True)


def _segments(grid: TokenGrid, g: torch.Generator) -> torch.Tensor:
    """Long `[video_len]` segment of each token: one of _OBJECTS moving 5x5 squares (later ids win),
    else the static background region (Voronoi cell of _REGIONS random sites) it lies in. Squares
    start at random places and move up to 1.5 tokens per frame, wrapping around."""
    coords = _coords(grid)
    size = torch.tensor([grid.height, grid.width]).float()
    sites = torch.rand(_REGIONS, 2, generator=g) * size
    ids = _OBJECTS + torch.cdist(coords[:, 1:], sites).argmin(-1)
    start = torch.rand(_OBJECTS, 2, generator=g) * size
    velocity = (torch.rand(_OBJECTS, 2, generator=g) * 2 - 1) * 1.5
    for o in range(_OBJECTS):
        centre = start[o] + velocity[o] * coords[:, :1]  # [L, 2]
        offset = torch.remainder(coords[:, 1:] - centre + size / 2, size) - size / 2  # wrapped distance
        ids[(offset.abs() <= 2.0).all(-1)] = o
    return ids


def _video_features(
    grid: TokenGrid, kind: str, segments: torch.Tensor, d: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Query and key features `[video_len, d]` of one head (logit = q.k, before any scaling)."""
    coords = _coords(grid)
    lengths = (grid.frames, grid.height, grid.width)
    codes = [
        _axis_code(coords[:, a], lengths[a], _CENTRES[a], _WIDTHS[kind][a]) * math.sqrt(_WEIGHTS[kind][a])
        for a in range(3)
    ]
    k = torch.zeros(grid.video_len, d)
    k[:, : sum(_CENTRES)] = torch.cat(codes, -1)
    q = k.clone()
    if kind == "semantic":
        basis = torch.linalg.qr(torch.randn(_SEGMENT_DIMS, _SEGMENT_DIMS, generator=g))[0]  # orthonormal
        embed = basis[:, segments].T * math.sqrt(_SEGMENT_LOGIT)  # [L, E]
        k[:, : sum(_CENTRES)] *= math.sqrt(_SEGMENT_POSITION)
        k[:, sum(_CENTRES) : _TEXT_DIM] = embed
        q = k.clone()
    # Text keys (1 in the text dim) sit _TEXT_LOGIT below the position logit of the own position.
    q[:, _TEXT_DIM] = (q[:, : sum(_CENTRES)] * k[:, : sum(_CENTRES)]).sum(-1) + _TEXT_LOGIT
    return q, k


def synthetic_attention(
    grid: TokenGrid,
    heads_per_type: int = 2,
    head_dim: int = 64,
    batch: int = 1,
    seed: int = 0,
) -> SyntheticAttention:
    """Deterministic q/k/v `[batch, S, 3 * heads_per_type, head_dim]` for `grid`, heads grouped by
    type in HEAD_TYPES order; each sample has its own segments."""
    if head_dim < _MIN_HEAD_DIM:
        raise ValueError(f"head_dim must be >= {_MIN_HEAD_DIM}, got {head_dim}")
    g = torch.Generator().manual_seed(seed)
    head_types = tuple(kind for kind in HEAD_TYPES for _ in range(heads_per_type))
    s, h, d = grid.seq_len, len(head_types), head_dim
    q, k = torch.zeros(batch, s, h, d), torch.zeros(batch, s, h, d)
    ids = torch.stack([_segments(grid, g) for _ in range(batch)])
    for b in range(batch):
        for head, kind in enumerate(head_types):
            qv, kv = _video_features(grid, kind, ids[b], d, g)
            q[b, grid.video_slice, head], k[b, grid.video_slice, head] = qv, kv
    k[:, grid.text_slice, :, _TEXT_DIM] = 1.0
    q[:, grid.text_slice] = torch.randn(batch, grid.text_len, h, d, generator=g) * 0.3
    # Noise mostly on the query side (logit noise std 0.5), so keys keep their structure.
    noise = slice(_TEXT_DIM + 1, _TEXT_DIM + 1 + _NOISE_DIMS)
    q[..., noise] += torch.randn(batch, s, h, _NOISE_DIMS, generator=g) * 0.5
    k[..., noise] += torch.randn(batch, s, h, _NOISE_DIMS, generator=g) * (1.0 / math.sqrt(_NOISE_DIMS))
    v = torch.randn(batch, s, h, d, generator=g)
    root = d**0.25  # so that q.k / sqrt(d) equals the designed logit
    return SyntheticAttention(q * root, k * root, v, grid, head_types, ids)
