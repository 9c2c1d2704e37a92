"""diffusers attention processors that make DiT self-attention sparse, one adapter per model family.

Exports are lazy (see `dit_accel.lazy`): the package imports without diffusers."""

from dit_accel.lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(["FAMILIES", "adapter_for", "adapter_for_transformer"], "dit_accel.processors.adapters"),
    "stock_attention": "dit_accel.processors.stock",
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
    "PlanningContext": "dit_accel.processors.planning",
}
__getattr__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
