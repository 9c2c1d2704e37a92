"""diffusers attention processors that make DiT self-attention sparse, one adapter per model family."""

from dit_accel.processors.adapters import FAMILIES, adapter_for, adapter_for_transformer
from dit_accel.processors.dense import dense_attention
from dit_accel.processors.named import (
    AdaptiveProcessor,
    DenseProcessor,
    DraftProcessor,
    RadialProcessor,
    ReorderedProcessor,
    WindowProcessor,
)
from dit_accel.processors.processor import SparseAttnProcessor
from dit_accel.processors.registry import METHOD_CLASSES, make_method, method_class
from dit_accel.processors.runtime import Runtime

__all__ = [
    "FAMILIES",
    "METHOD_CLASSES",
    "AdaptiveProcessor",
    "DenseProcessor",
    "DraftProcessor",
    "RadialProcessor",
    "ReorderedProcessor",
    "Runtime",
    "SparseAttnProcessor",
    "WindowProcessor",
    "adapter_for",
    "adapter_for_transformer",
    "dense_attention",
    "make_method",
    "method_class",
]
