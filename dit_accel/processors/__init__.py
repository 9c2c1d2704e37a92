"""diffusers attention processors that make DiT self-attention sparse, one adapter per model family.

Exports are lazy (see `dit_accel.lazy`): `dit_accel.processors.registry` can be imported without
diffusers."""

from dit_accel.lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(["FAMILIES", "adapter_for", "adapter_for_transformer"], "dit_accel.processors.adapters"),
    "dense_attention": "dit_accel.processors.dense",
    **dict.fromkeys(
        [
            "AdaptiveProcessor",
            "DenseProcessor",
            "DraftProcessor",
            "RadialProcessor",
            "ReorderedProcessor",
            "WindowProcessor",
        ],
        "dit_accel.processors.named",
    ),
    "SparseAttnProcessor": "dit_accel.processors.processor",
    **dict.fromkeys(["METHOD_CLASSES", "make_method", "method_class"], "dit_accel.processors.registry"),
    "Runtime": "dit_accel.processors.runtime",
}
__getattr__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
