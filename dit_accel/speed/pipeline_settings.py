"""The method settings the pipeline benchmark times: each method at its defaults, and at a setting whose
density lands near a target where the method has a knob for it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods import Method, Radial, Window, make_method


@dataclass(frozen=True)
class Setting:
    """A method by name with keyword options; `matched` marks the density-matched ones."""

    method: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    matched: bool = False

    @property
    def label(self) -> str:
        args = ", ".join(f"{key}={_short(value)}" for key, value in self.options.items())
        return f"{self.method}({args})"

    def build(self) -> Method:
        return make_method(self.method, **self.options)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def static_density(method: Method, grid: TokenGrid, device: torch.device) -> float:
    """Density of a static method's plan on `grid` (static plans read only q's shape and device)."""
    probe = torch.empty(1, grid.seq_len, 1, 1, device=device)
    return method.plan(probe, probe, grid).density


def match_density(
    build: Callable[[float], Method],
    target: float,
    low: float,
    high: float,
    grid: TokenGrid,
    device: torch.device,
    steps: int = 16,
) -> tuple[float, float]:
    """(x, density): the x in [low, high] (both > 0) whose static `build(x)` has the density nearest
    `target`, by bisection on log x; the density must not decrease as x grows."""
    ends = [(x, static_density(build(x), grid, device)) for x in (low, high)]
    best = min(ends, key=lambda end: abs(end[1] - target))
    for _ in range(steps):
        if best[1] == target:
            break
        mid = math.sqrt(low * high)
        density = static_density(build(mid), grid, device)
        if abs(density - target) < abs(best[1] - target):
            best = (mid, density)
        low, high = (mid, high) if density < target else (low, mid)
    return best


def _matched_radial(target: float, grid: TokenGrid, device: torch.device) -> dict[str, Any]:
    """Radial's `decay` for a density near `target`, with `dense_frames=0` and/or `sink=False` when the
    dense neighbour frames or the sink alone are denser than `target` (the band reads at least a block
    on each side at every frame distance, as the reference's)."""
    candidates = []
    for dense_frames, sink in ((1, True), (0, True), (1, False), (0, False)):
        decay, density = match_density(
            lambda x, f=dense_frames, s=sink: Radial(decay=x, dense_frames=f, sink=s),
            target,
            1e-3,
            64.0,
            grid,
            device,
        )
        candidates.append((abs(density - target), dense_frames, not sink, decay))
    _, dense_frames, no_sink, decay = min(candidates)
    options: dict[str, Any] = {"decay": round(decay, 4)}
    if dense_frames == 0:
        options["dense_frames"] = 0
    if no_sink:
        options["sink"] = False
    return options


def _matched_window(target: float, grid: TokenGrid, device: torch.device) -> dict[str, Any]:
    """Window's default (frames, rows, cols) scaled for a density near `target`."""
    default = Window().window

    def scaled(x: float) -> tuple[int, int, int]:
        return tuple(max(1, round(size * x)) for size in default)

    scale, _ = match_density(lambda x: Window(window=scaled(x)), target, 0.02, 8.0, grid, device)
    return {"window": scaled(scale)}


def method_settings(target: float, grid: TokenGrid, device: torch.device) -> list[Setting]:
    """Every method at its defaults, then the density-matched settings for `target`: Radial's decay,
    Window's size, Draft's and Reordered's density (Adaptive's knob is attention mass, not density)."""
    return [
        Setting("dense"),
        Setting("radial"),
        Setting("window"),
        Setting("draft"),
        Setting("reordered"),
        Setting("adaptive"),
        Setting("radial", _matched_radial(target, grid, device), matched=True),
        Setting("window", _matched_window(target, grid, device), matched=True),
        Setting("draft", {"density": target}, matched=True),
        Setting("reordered", {"density": target}, matched=True),
    ]
