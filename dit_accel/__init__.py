"""dit-accel: sparse attention for diffusers video and image Diffusion Transformers."""

from dit_accel import methods
from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.pipelines import AccelerationConfig, AccelerationHandle, accelerate
from dit_accel.processors import (
    AdaptiveProcessor,
    DenseProcessor,
    DraftProcessor,
    RadialProcessor,
    ReorderedProcessor,
    SparseAttnProcessor,
    WindowProcessor,
)

__all__ = [
    "AccelerationConfig",
    "AccelerationHandle",
    "AdaptiveProcessor",
    "BlockLayout",
    "DenseProcessor",
    "DraftProcessor",
    "RadialProcessor",
    "ReorderedProcessor",
    "SparseAttnProcessor",
    "TokenGrid",
    "WindowProcessor",
    "accelerate",
    "block_sparse_attention",
    "methods",
]
__version__ = "0.1.0"
