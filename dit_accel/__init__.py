"""dit-accel: sparse attention for diffusers video and image Diffusion Transformers.

The diffusers-facing names (processors, `accelerate`) are imported on first use, so the kernel,
the methods and the CLI's argument checks start without importing diffusers.
"""

from __future__ import annotations

import importlib
from typing import Any

from dit_accel import methods
from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout

_LAZY = {
    "AccelerationConfig": "dit_accel.pipelines",
    "AccelerationHandle": "dit_accel.pipelines",
    "accelerate": "dit_accel.pipelines",
    "AdaptiveProcessor": "dit_accel.processors",
    "DenseProcessor": "dit_accel.processors",
    "DraftProcessor": "dit_accel.processors",
    "RadialProcessor": "dit_accel.processors",
    "ReorderedProcessor": "dit_accel.processors",
    "SparseAttnProcessor": "dit_accel.processors",
    "WindowProcessor": "dit_accel.processors",
}

__all__ = ["BlockLayout", "TokenGrid", "block_sparse_attention", "methods", *sorted(_LAZY)]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dit_accel' has no attribute {name!r}")
