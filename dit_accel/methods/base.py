"""Shared conventions of the sparse attention methods: Method (plans) and Plan (runs)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.options import check_options, choice, number, option_values
from dit_accel.patterns.permutation import permute_tokens, unpermute_tokens
from dit_accel.var_layout import VarBlockLayout

BLOCK_SIZES = (16, 32, 64, 128, 256)
DEFAULT_DENSITY = 0.25


def block_size_option() -> Any:
    """The `block_size` option every method declares."""
    return choice(64, "tokens per block", BLOCK_SIZES)


# A block budget is one of these; giving one replaces the other from a recommendation.
BUDGET_KEYS = ("density", "mass")


def density_option() -> Any:
    return number(
        None,
        f"keep the top share of key blocks per query block (neither density nor mass: {DEFAULT_DENSITY})",
        0,
        1,
        low_open=True,
        optional=True,
    )


def mass_option(default: float | None = None, help: str = "") -> Any:
    help = help or "instead keep, per query block, the fewest key blocks holding this share of the row's mass"
    return number(default, help, 0, 1, low_open=True, optional=default is None)


def check_budget(method: Any) -> None:
    """A block budget (density, mass) of a frozen method: exactly one is given; neither means density=0.25."""
    if method.density is not None and method.mass is not None:
        raise ValueError(
            f"give exactly one of density= and mass=, got density={method.density!r}, mass={method.mass!r}"
        )
    if method.density is None and method.mass is None:
        object.__setattr__(method, "density", DEFAULT_DENSITY)


@dataclass
class Plan:
    """One planned sparse attention call.

    layout:      BlockLayout (or VarBlockLayout) over the (permuted) sequence, batch dim 1 or B, one
                 entry per head.
    permutation: long `[Bp, S, Hp]` token order the layout refers to, or None for the natural order.
    state:       method-specific data a later plan may reuse (e.g. k-means centroids).
    key_permutation: the keys' and values' own order, where it differs from the queries' (`permutation`).
    """

    layout: BlockLayout | VarBlockLayout
    grid: TokenGrid
    permutation: torch.Tensor | None = None
    state: dict[str, Any] = field(default_factory=dict)
    key_permutation: torch.Tensor | None = None

    @functools.cached_property
    def density(self) -> float:
        """Fraction of token pairs computed, averaged over batch and heads (read once: it scans the whole
        layout, and a cached plan serves many calls)."""
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
            return block_sparse_attention(q, k, v, self.layout, scale=scale)
        perm = self.permutation
        key_perm = perm if self.key_permutation is None else self.key_permutation
        out = block_sparse_attention(
            permute_tokens(q, perm),
            permute_tokens(k, key_perm),
            permute_tokens(v, key_perm),
            self.layout,
            scale=scale,
        )
        return unpermute_tokens(out, perm)


class Method:
    """A sparse attention method: `plan(q, k, grid)` chooses the blocks, `Plan.run` computes.

    Subclasses are frozen dataclasses whose fields are declared options (`dit_accel.options`), set
    `name` and implement `plan`, a pure function of its inputs (caching plans is the runtime's job).
    `static` methods plan from the grid alone (q and k are only read for their shape, device and batch
    size).
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

    def __post_init__(self) -> None:
        check_options(self)

    def options(self) -> dict[str, Any]:
        """The method's settings, for logs and sidecar files."""
        return option_values(self)
