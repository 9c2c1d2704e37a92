"""PlanningContext: where a processor's plans come from, and what it knows beyond the one call it runs
(step, layer, cached plans, stats).

The bare default below knows no step and no layer: static methods are planned once per grid,
the others at every call, and nothing is recorded. `dit_accel.pipelines` subclasses it to make
processors step-aware.
"""

from __future__ import annotations

from collections.abc import Hashable

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods.base import Method, Plan

# An attention module's site tensor (int64 scalar on the CPU): its index in the runtime's sites. A tensor,
# not a number, so that compiled code passes it as an input and one graph serves every layer.
SITE_ATTRIBUTE = "_dit_accel_site"


class PlanningContext:
    """Plans for a processor used on its own (`transformer.set_attn_processor(...)`).

    step_token: a tensor that the runtime's step hook updates before each forward (None: no hook).
    """

    step_token: torch.Tensor | None = None

    def __init__(self) -> None:
        self._static: dict[tuple[TokenGrid, int, torch.device], Plan] = {}

    def site(self, index: int | None) -> Hashable | None:
        """Where the module with site tensor `index` sits in the model (e.g. its layer); None when unknown."""
        return None

    def video_grid(self) -> tuple[int, int, int] | None:
        """(frames, height, width) of the current forward's video tokens, when known."""
        return None

    def is_dense(self, site: Hashable | None) -> bool:
        """Whether the schedule wants this call dense."""
        return False

    def plan(
        self, site: Hashable | None, method: Method, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid
    ) -> tuple[Plan, bool]:
        """(plan, cache_hit) for q/k `[B, S, H, D]` on `grid`."""
        if not method.static:
            return method.plan(q, k, grid), False
        key = (grid, q.shape[0], q.device)
        hit = key in self._static
        if not hit:
            self._static[key] = method.plan(q, k, grid)
        return self._static[key], hit

    def clock(self, device: torch.device) -> float:
        """A timestamp in seconds for the stats; the bare runtime records nothing."""
        return 0.0

    def dense(self, cause: str) -> None:
        """One call ran dense because of `cause` (`processors.notices`); the bare runtime counts nothing."""

    def record(
        self,
        site: Hashable | None,
        *,
        plan: Plan | None,
        plan_s: float,
        attention_s: float,
        cache_hit: bool,
    ) -> None:
        """Note one attention call (`plan` None: it ran dense)."""
