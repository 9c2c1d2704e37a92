"""The step-context hook: tells the processors of a transformer where the denoising loop is."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, CacheContext, StateManager

from dit_accel.pipelines.runtime import StepRuntime
from dit_accel.processors.adapters import adapter_for_transformer
from dit_accel.processors.object_ids import lookup, object_id

STEP_CONTEXT_HOOK = "dit_accel_step_context"


@dataclass
class StepContextConfig:
    """runtime: the StepRuntime that the transformer's processors read (one per `accelerate()` handle,
    shared by all transformers of the pipeline)."""

    runtime: StepRuntime


def _timestep_value(timestep: Any) -> float | None:
    """One number per forward: the largest entry (Wan 2.2 TI2V passes per-token timesteps)."""
    if timestep is None:
        return None
    if isinstance(timestep, torch.Tensor):
        return float(timestep.max())
    return float(timestep)


@torch.library.custom_op("dit_accel::begin_forward", mutates_args=("step",))
def begin_forward_op(
    step: torch.Tensor, timestep: torch.Tensor | None, frames: int, height: int, width: int, hook: int
) -> None:
    """The step hook with id `hook` learns a new forward: timestep (any shape), video grid (frames <= 0:
    unknown). An opaque op so that the hook traces under torch.compile; it bumps the runtime's `step`
    token, which every attention call takes as input, so compiled code keeps those calls after it."""
    lookup(hook).begin(timestep, (frames, height, width) if frames > 0 else None)
    step.add_(1)


@begin_forward_op.register_fake
def _(step, timestep, frames, height, width, hook):
    return None


class StepContextHook(ModelHook):
    """Before each forward (`on_forward`, a torch forward pre-hook): the step and branch (from the
    pipeline's cache context, else by comparing timesteps), the video token grid (from the inputs and the
    patch size). Registered in the module's HookRegistry, so diffusers sets its cache context and resets
    it at the end of every pipeline call; its own `forward` wrapper does nothing (see
    `dit_accel.pipelines.install`)."""

    _is_stateful = True

    def __init__(self, config: StepContextConfig) -> None:
        super().__init__()
        self.config = config
        # diffusers sets the pipeline's cache context on every StateManager of a stateful hook.
        self.cache_context = StateManager(BaseState)
        self._names: tuple[str, ...] = ()
        self._id = object_id(self)

    def initialize_hook(self, module: torch.nn.Module) -> torch.nn.Module:
        self._adapter = adapter_for_transformer(module)
        self._names = tuple(inspect.signature(module.forward).parameters)
        return module

    def _context(self) -> CacheContext | None:
        try:
            return self.cache_context.context
        except ValueError:
            return None

    def on_forward(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        """Forward pre-hook: hands this forward's timestep and video grid to the runtime, through an
        opaque op so that torch.compile traces it."""
        inputs = {**dict(zip(self._names, args, strict=False)), **kwargs}
        timestep = inputs.get("timestep")
        if timestep is not None and not isinstance(timestep, torch.Tensor):
            timestep = torch.tensor(float(timestep))
        frames, height, width = self._adapter.video_grid(module, inputs) or (0, 0, 0)
        begin_forward_op(self.config.runtime.step_token, timestep, frames, height, width, self._id)

    def begin(self, timestep: torch.Tensor | None, video_grid: tuple[int, int, int] | None) -> None:
        """`begin_forward_op`'s work, run eagerly inside the op."""
        self.config.runtime.begin_forward(_timestep_value(timestep), self._context(), video_grid)

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.config.runtime.state.end()
        self.cache_context.reset()
        return module


def apply_step_context(module: torch.nn.Module, config: StepContextConfig) -> StepContextHook:
    """Register a StepContextHook on a transformer of a supported family."""
    hook = StepContextHook(config)
    HookRegistry.check_if_exists_or_initialize(module).register_hook(hook, STEP_CONTEXT_HOOK)
    return hook
