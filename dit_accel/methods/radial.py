"""Radial: Radial Attention's static energy-decay mask (mit-han-lab/radial-attention), in tile order."""

from __future__ import annotations

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods.tiled import StaticTileMethod
from dit_accel.patterns.radial import radial_block_mask
from dit_accel.patterns.tiles import TileOrder


class Radial(StaticTileMethod):
    """Static O(n log n) mask: attention energy decays with temporal and spatial distance.

    decay:        share of a frame's tokens each query reads in frames 2-3 away; halves each time
                  the frame distance doubles (see `dit_accel.patterns.radial`). Any number > 0
                  (`math.inf` allowed); larger is denser and closer to dense attention. The
                  reference uses 0.2 for Wan 2.1 and 0.95 for HunyuanVideo.
    sink:         every query also reads all blocks of frame 0 (attention sink, as for Wan).
    block_size:   tokens per block: 16, 32, 64, 128 or 256.
    dense_frames: frame pairs at most this far apart are dense (non-negative integer).
    Text rows and columns are dense and the diagonal is always kept. Tokens are reordered into
    tiles (`dit_accel.patterns.tiles`); the mask is built once per (grid, device) and cached here.
    """

    name = "radial"

    def __init__(
        self, decay: float = 0.2, sink: bool = True, block_size: int = 64, dense_frames: int = 1
    ) -> None:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not decay > 0:
            raise ValueError(f"decay must be a number > 0 (math.inf = dense), got {decay!r}")
        if not isinstance(sink, bool):
            raise ValueError(f"sink must be True or False, got {sink!r}")
        if isinstance(dense_frames, bool) or not isinstance(dense_frames, int) or dense_frames < 0:
            raise ValueError(f"dense_frames must be a non-negative integer, got {dense_frames!r}")
        self.decay = float(decay)
        self.sink = sink
        self.dense_frames = dense_frames
        super().__init__(block_size)

    def _block_mask(self, order: TileOrder, grid: TokenGrid) -> torch.Tensor:
        return radial_block_mask(order, grid, self.block_size, self.decay, self.sink, self.dense_frames)

    def options(self) -> dict[str, float | bool | int]:
        return {
            "decay": self.decay,
            "sink": self.sink,
            "block_size": self.block_size,
            "dense_frames": self.dense_frames,
        }
