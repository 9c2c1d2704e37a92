"""StepRuntime: the step-aware PlanningContext behind `accelerate()` (schedule, pattern cache, stats)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.hooks.hooks import CacheContext

from dit_accel.grid import TokenGrid
from dit_accel.methods.base import Method, Plan
from dit_accel.pipelines.cache import PatternCache
from dit_accel.pipelines.schedule import DenseSchedule
from dit_accel.pipelines.stats import CallRecord
from dit_accel.pipelines.steps import StepState
from dit_accel.processors.planning import PlanningContext


@dataclass(frozen=True)
class Site:
    """An attention module: its transformer (`model`), block index (`layer`, None outside the blocks)
    and module name."""

    model: str
    layer: int | None
    name: str


def attention_sites(
    model: str, transformer: torch.nn.Module, blocks: tuple[str, ...]
) -> list[tuple[torch.nn.Module, Site]]:
    """Every attention module of `transformer` with its site; `blocks` name its block lists in run order."""
    layer_of: dict[int, int] = {}
    layer = 0
    for block_list in blocks:
        for block in getattr(transformer, block_list, ()):
            layer_of.update((id(module), layer) for module in block.modules())
            layer += 1
    return [
        (module, Site(model, layer_of.get(id(module)), name))
        for name, module in transformer.named_modules()
        if hasattr(module, "set_processor")
    ]


class StepRuntime(PlanningContext):
    """Knows the step (from the transformers' step hooks), each module's site (`sites[i]` for the module
    whose site tensor holds i), the dense schedule, the pattern cache and the per-call records."""

    def __init__(
        self,
        schedule: DenseSchedule,
        refresh_every: int,
        timing: bool = False,
        total_steps: Callable[[CacheContext | None], int | None] = lambda context: None,
    ) -> None:
        super().__init__()
        self.schedule = schedule
        self.cache = PatternCache(refresh_every)
        self.timing = timing
        self.state = StepState()
        self.records: list[CallRecord] = []
        self.dense_causes: Counter[str] = Counter()
        self.sites: list[Site] = []
        self.step_token = torch.zeros((), dtype=torch.int64)
        self._total_steps = total_steps
        self._video_grid: tuple[int, int, int] | None = None
        self._last: dict[tuple[Site | None, str], Plan] = {}

    def begin_forward(
        self, timestep: float | None, context: CacheContext | None, video_grid: tuple[int, int, int] | None
    ) -> None:
        """Called by the step hook before each transformer forward."""
        if self.state.advance(timestep, context):
            self.cache.clear()
            self._last.clear()
        self.state.total_steps = self._total_steps(context)
        self._video_grid = video_grid

    def site(self, index: int | None) -> Site | None:
        return self.sites[index] if index is not None else None

    def video_grid(self) -> tuple[int, int, int] | None:
        return self._video_grid

    def is_dense(self, site: Site | None) -> bool:
        layer = site.layer if site is not None else None
        return self.schedule.is_dense(self.state.step, self.state.total_steps, layer, self.state.timestep)

    def plan(
        self, site: Site | None, method: Method, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid
    ) -> tuple[Plan, bool]:
        if method.static:
            key = ("static", grid, q.shape[0], q.device)
        else:
            key = (site, self.state.branch, grid, q.shape[0], q.device)
        entry, hit = self.cache.get(
            key, self.state.step, method.static, lambda previous: method.plan(q, k, grid, previous=previous)
        )
        self._last[(site, self.state.branch)] = entry.plan
        return entry.plan, hit

    def last_plans(self) -> dict[tuple[Site | None, str], Plan]:
        """The plan each (site, branch) last ran sparse attention with in this generation (a static
        method's sites share one plan); calls that ran dense leave no entry."""
        return dict(self._last)

    def dense(self, cause: str) -> None:
        self.dense_causes[cause] += 1

    def clock(self, device: torch.device) -> float:
        if self.timing and device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    def record(
        self, site: Site | None, *, plan: Plan | None, plan_s: float, attention_s: float, cache_hit: bool
    ) -> None:
        density = 1.0 if plan is None else plan.density  # computed once per plan
        self.records.append(
            CallRecord(
                generation=self.state.generation,
                step=self.state.step,
                branch=self.state.branch,
                model=site.model if site is not None else "",
                layer=site.layer if site is not None else None,
                dense=plan is None,
                density=density,
                plan_s=plan_s,
                attention_s=attention_s,
                cache_hit=cache_hit,
            )
        )
