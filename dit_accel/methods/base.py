"""Shared conventions of the sparse attention methods: Method (plans) and Plan (runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.patterns.permutation import permute_tokens, unpermute_tokens


def check_fraction(name: str, value: float) -> float:
    """Validate an option in (0, 1] and return it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def check_count(name: str, value: int | None, minimum: int, allow_none: bool = False) -> int | None:
    """Validate an integer option >= `minimum` (or None, when allowed) and return it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{extra}, got {value!r}")
    return value


def check_budget(density: float | None, mass: float | None) -> tuple[float | None, float | None]:
    """Validate a block budget, (density, mass): exactly one is given, in (0, 1]; neither means
    density=0.25."""
    if density is not None and mass is not None:
        raise ValueError(f"give exactly one of density= and mass=, got density={density!r}, mass={mass!r}")
    if density is None and mass is None:
        density = 0.25
    return (
        None if density is None else check_fraction("density", density),
        None if mass is None else check_fraction("mass", mass),
    )


def check_block_size(value: int) -> int:
    """Validate a block size (a power of two between 16 and 256)."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in (16, 32, 64, 128, 256):
        raise ValueError(f"block_size must be one of 16, 32, 64, 128, 256, got {value!r}")
    return value


@dataclass
class Plan:
    """One planned sparse attention call.

    layout:      BlockLayout over the (permuted) sequence, batch dim 1 or B, one entry per head.
    permutation: long `[Bp, S, Hp]` token order the layout refers to, or None for the natural order.
    state:       method-specific data a later plan may reuse (e.g. k-means centroids).
    """

    layout: BlockLayout
    grid: TokenGrid
    permutation: torch.Tensor | None = None
    state: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None

    @property
    def density(self) -> float:
        """Fraction of token pairs computed, averaged over batch and heads."""
        return self.layout.density()

    @property
    def head_density(self) -> torch.Tensor:
        """Fraction of token pairs computed per head, float64 `[H]` (mean over the batch)."""
        return self.layout.head_density().mean(0)

    def run(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None
    ) -> torch.Tensor:
        """Attention output `[B, S, H, D]` for q/k/v `[B, S, H, D]` in the natural token order."""
        self.grid.check(q.shape[1])
        if self.permutation is None:
            return block_sparse_attention(q, k, v, self.layout, scale=scale, backend=self.backend)
        perm = self.permutation
        out = block_sparse_attention(
            permute_tokens(q, perm),
            permute_tokens(k, perm),
            permute_tokens(v, perm),
            self.layout,
            scale=scale,
            backend=self.backend,
        )
        return unpermute_tokens(out, perm)


class Method:
    """A sparse attention method: `plan(q, k, grid)` chooses the blocks, `Plan.run` computes.

    Subclasses set `name` and implement `plan`. `static` methods plan from the grid alone
    (q and k are only read for their shape, device and batch size).
    """

    name: ClassVar[str] = ""
    static: ClassVar[bool] = False

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        """Plan one attention call for q/k `[B, S, H, D]`; `previous` is an earlier plan of the same
        call site (same grid) that the method may warm-start from."""
        raise NotImplementedError

    def __call__(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid: TokenGrid, scale: float | None = None
    ) -> torch.Tensor:
        """One sparse attention call: q/k/v `[B, S, H, D]` -> `[B, S, H, D]`."""
        return self.plan(q, k, grid).run(q, k, v, scale=scale)

    def options(self) -> dict[str, Any]:
        """The method's settings, for logs and sidecar files."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.options().items())
        return f"{type(self).__name__}({args})"
