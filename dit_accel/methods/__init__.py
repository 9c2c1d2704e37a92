"""Sparse attention methods on a video token grid: `method(q, k, v, grid)` or `method.plan(...)`."""

from dit_accel.methods.base import Method, Plan
from dit_accel.methods.dense import Dense

__all__ = ["Dense", "Method", "Plan"]
