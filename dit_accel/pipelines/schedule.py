"""DenseSchedule: which attention calls run dense (warm-up steps or timesteps, last steps, first layers)."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check_count(name: str, value: int | float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be an int (a count) or a float in [0, 1] (a fraction), got {value!r}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{name} as a count must be >= 0, got {value}")
    if isinstance(value, float) and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} as a fraction of the steps must be in [0, 1], got {value}")


@dataclass(frozen=True)
class DenseSchedule:
    """Dense for the first `steps` denoising steps and the last `last_steps` (each an int count or a float
    fraction of all steps), in the first `layers` transformer blocks at every step, and at every step
    whose timestep (the scheduler's, 1000 = pure noise) is above `above_timestep` (None: no such rule)."""

    steps: int | float = 0
    last_steps: int | float = 0
    layers: int = 0
    above_timestep: float | None = None

    def __post_init__(self) -> None:
        _check_count("dense_steps", self.steps)
        _check_count("dense_last_steps", self.last_steps)
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 0:
            raise ValueError(f"dense_layers must be a non-negative integer, got {self.layers!r}")
        if self.above_timestep is not None and (
            isinstance(self.above_timestep, bool)
            or not isinstance(self.above_timestep, (int, float))
            or math.isnan(self.above_timestep)
        ):
            raise ValueError(f"dense_above_timestep must be a number or None, got {self.above_timestep!r}")

    def _count(self, name: str, value: int | float, total: int | None) -> int:
        if isinstance(value, int):
            return value
        if value == 0.0:
            return 0
        if total is None:
            raise ValueError(
                f"{name}={value} is a fraction of the denoising steps but their number is unknown: pass "
                "num_inference_steps= to accelerate() or give a count"
            )
        return math.floor(value * total + 0.5)

    def is_dense(
        self, step: int, total: int | None, layer: int | None, timestep: float | None = None
    ) -> bool:
        """Whether the call at denoising `step` (0-based, of `total`) in block `layer`, at `timestep`
        (None: unknown), runs dense."""
        if layer is not None and layer < self.layers:
            return True
        if self.above_timestep is not None and timestep is not None and timestep > self.above_timestep:
            return True
        if step < self._count("dense_steps", self.steps, total):
            return True
        last = self._count("dense_last_steps", self.last_steps, total)
        if last == 0:
            return False
        if total is None:
            raise ValueError(
                "dense_last_steps needs the number of denoising steps: "
                "pass num_inference_steps= to accelerate()"
            )
        return step >= total - last
