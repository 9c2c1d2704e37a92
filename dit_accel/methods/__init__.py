"""Sparse attention methods on a video token grid: `method(q, k, v, grid)` or `method.plan(...)`."""

from dit_accel.methods.adaptive import Adaptive
from dit_accel.methods.base import Method, Plan
from dit_accel.methods.dense import Dense
from dit_accel.methods.draft import Draft
from dit_accel.methods.radial import Radial
from dit_accel.methods.registry import METHOD_CLASSES, make_method, method_class
from dit_accel.methods.reordered import Reordered
from dit_accel.methods.window import Window

__all__ = [
    "METHOD_CLASSES",
    "Adaptive",
    "Dense",
    "Draft",
    "Method",
    "Plan",
    "Radial",
    "Reordered",
    "Window",
    "make_method",
    "method_class",
]
