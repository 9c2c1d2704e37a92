"""Sizes of the demo video model and where its weights live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Environment override of the shipped weights folder (e.g. a freshly trained run).
WEIGHTS_ENV = "DIT_ACCEL_DEMO_WEIGHTS"
PACKAGE_WEIGHTS = Path(__file__).parent / "weights"
# Frame, row and column of every pixel, their pairwise products, and two waves at the background
# texture's period and their product, fed to the transformer next to the RGB channels (see
# `pipeline.with_coordinates`): Wan's only position signal is RoPE, which is relative, so without them
# a 1 M-parameter model cannot tie "moving left" to where the object is in the first and the last
# frame, nor draw stripes of a fixed period and phase.
COORDINATE_CHANNELS = 12


@dataclass(frozen=True)
class DemoConfig:
    """Video geometry (pixels) and transformer size. The default makes 9 x 16 x 16 = 2,304 video tokens
    with patch (1, 4, 4) on 64 x 64 RGB frames."""

    frames: int = 9
    height: int = 64
    width: int = 64
    patch_size: tuple[int, int, int] = (1, 4, 4)
    heads: int = 2
    head_dim: int = 64
    layers: int = 4
    ffn_dim: int = 256
    text_dim: int = 64
    freq_dim: int = 64
    max_text_length: int = 12
    # FlowMatchEulerDiscreteScheduler shift, used by sampling and training alike: 9 x 64 x 64 x 3 values
    # stay recognisable under much noise, and the object's place is decided while sigma is near 1.
    shift: float = 3.0

    def transformer_kwargs(self) -> dict:
        """Arguments of `WanTransformer3DModel`: pixel space, RGB plus the coordinate channels in, RGB out."""
        return {
            "patch_size": self.patch_size,
            "num_attention_heads": self.heads,
            "attention_head_dim": self.head_dim,
            "in_channels": 3 + COORDINATE_CHANNELS,
            "out_channels": 3,
            "text_dim": self.text_dim,
            "freq_dim": self.freq_dim,
            "ffn_dim": self.ffn_dim,
            "num_layers": self.layers,
            "rope_max_seq_len": 64,
        }


# A model small enough for unit tests (seconds on a CPU).
TINY = DemoConfig(
    frames=3, height=16, width=16, heads=2, head_dim=8, layers=1, ffn_dim=16, text_dim=8, freq_dim=8
)


def default_weights_path() -> Path:
    """The folder `load_demo_pipeline` reads by default: $DIT_ACCEL_DEMO_WEIGHTS, else the packaged one."""
    return Path(os.environ.get(WEIGHTS_ENV) or PACKAGE_WEIGHTS)
