"""dit-accel: sparse attention for diffusers video and image Diffusion Transformers."""

from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout

__all__ = ["BlockLayout", "TokenGrid", "block_sparse_attention"]
__version__ = "0.1.0"
