"""One processor per method, taking the method's own keyword options (see `dit_accel.methods`)."""

from __future__ import annotations

from typing import Any, ClassVar

from dit_accel.grid import TokenGrid
from dit_accel.methods.registry import method_class
from dit_accel.processors.processor import SparseAttnProcessor


class _MethodProcessor(SparseAttnProcessor):
    method_name: ClassVar[str]

    def __init__(
        self,
        *,
        grid: TokenGrid | tuple[int, int, int] | None = None,
        min_seq_len: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(method_class(self.method_name)(**options), grid=grid, min_seq_len=min_seq_len)


class DenseProcessor(_MethodProcessor):
    """Every block through the block-sparse kernel (density 1): the fair timing baseline. `Dense` options."""

    method_name = "dense"


class RadialProcessor(_MethodProcessor):
    """Radial Attention's static energy-decay mask. Options of `Radial` (decay, sink, block_size, ...)."""

    method_name = "radial"


class WindowProcessor(_MethodProcessor):
    """A local 3-D window of blocks. Options of `Window` (window, block_size, ...)."""

    method_name = "window"


class DraftProcessor(_MethodProcessor):
    """Blocks chosen from pooled q/k (DraftAttention). Options of `Draft` (density, mass, per_head, ...)."""

    method_name = "draft"


class ReorderedProcessor(_MethodProcessor):
    """Tokens reordered (axis permutation or semantic clusters), then blocks chosen. `Reordered` options."""

    method_name = "reordered"


class AdaptiveProcessor(_MethodProcessor):
    """Per-head blocks reaching a share of the exact attention mass. Options of `Adaptive` (mass, ...)."""

    method_name = "adaptive"
