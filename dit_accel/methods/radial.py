"""Radial: Radial Attention's static energy-decay mask (mit-han-lab/radial-attention), in tile order."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods.base import block_size_option
from dit_accel.methods.tiled import StaticTileMethod
from dit_accel.options import flag, integer, number
from dit_accel.patterns.radial import radial_block_mask
from dit_accel.patterns.tiles import TileOrder


@dataclass(frozen=True)
class Radial(StaticTileMethod):
    """Static O(n log n) mask: attention energy decays with temporal and spatial distance
    (see `dit_accel.patterns.radial`). `decay` is the reference's decay factor: at each frame distance a
    query block reads as many keys as radial-attention's mask at that decay, the nearest ones in 2-D.
    The reference uses 0.2 for Wan 2.1 (with the sink), 0.95 for HunyuanVideo (no sink) and 0.8 for
    Wan 2.2. Text rows and columns are dense and the diagonal is always kept. Tokens are reordered
    into tiles (`dit_accel.patterns.tiles`).
    """

    name = "radial"

    decay: float = number(
        0.2,
        "Radial Attention's decay factor: the key span read in frames 2-3 away is 2 x decay x P / 4 "
        "tokens (P: the power of two above the tokens per frame, at least a block each side), halving "
        "each time the frame distance doubles; larger is denser (inf: dense)",
        0,
        low_open=True,
        allow_inf=True,
    )
    sink: bool = flag(
        True, "every query also reads all blocks of frame 0 (attention sink, as the reference for Wan)"
    )
    block_size: int = block_size_option()
    dense_frames: int = integer(1, "frame pairs at most this far apart are dense", 0)

    def _block_mask(self, order: TileOrder, grid: TokenGrid) -> torch.Tensor:
        return radial_block_mask(order, grid, self.block_size, self.decay, self.sink, self.dense_frames)
