"""dit-accel: sparse attention for diffusers video and image Diffusion Transformers.

The diffusers-facing names (processors, `accelerate`) are imported on first use, so the kernel,
the methods and the CLI's argument checks start without importing diffusers.
"""

from dit_accel import methods
from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(["AccelerationConfig", "AccelerationHandle", "accelerate"], "dit_accel.pipelines"),
    **dict.fromkeys(
        [
            "AdaptiveProcessor",
            "DenseProcessor",
            "DraftProcessor",
            "RadialProcessor",
            "ReorderedProcessor",
            "SparseAttnProcessor",
            "WindowProcessor",
        ],
        "dit_accel.processors",
    ),
}
__getattr__ = lazy_exports(__name__, _LAZY)

from dit_accel.layout import BlockLayout  # noqa: E402
from dit_accel.var_layout import VarBlockLayout  # noqa: E402

__all__ = ["BlockLayout", "TokenGrid", "VarBlockLayout", "block_sparse_attention", "methods", *sorted(_LAZY)]
__version__ = "0.1.0"
