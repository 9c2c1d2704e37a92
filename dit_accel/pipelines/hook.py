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


class StepContextHook(ModelHook):
    """Before each forward: the step and branch (from the pipeline's cache context, else by comparing
    timesteps), the video token grid (from the inputs and the patch size). Stateful so that diffusers
    resets it at the end of every pipeline call."""

    _is_stateful = True

    def __init__(self, config: StepContextConfig) -> None:
        super().__init__()
        self.config = config
        # diffusers sets the pipeline's cache context on every StateManager of a stateful hook.
        self.cache_context = StateManager(BaseState)
        self._signature: inspect.Signature | None = None

    def initialize_hook(self, module: torch.nn.Module) -> torch.nn.Module:
        self._adapter = adapter_for_transformer(module)
        self._signature = inspect.signature(module.forward)
        return module

    def _context(self) -> CacheContext | None:
        try:
            return self.cache_context.context
        except ValueError:
            return None

    @torch.compiler.disable
    def pre_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> tuple[tuple, dict]:
        inputs = self._signature.bind_partial(*args, **kwargs).arguments
        self.config.runtime.begin_forward(
            _timestep_value(inputs.get("timestep")), self._context(), self._adapter.video_grid(module, inputs)
        )
        return args, kwargs

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.config.runtime.state.end()
        self.cache_context.reset()
        return module


def apply_step_context(module: torch.nn.Module, config: StepContextConfig) -> StepContextHook:
    """Register a StepContextHook on a transformer of a supported family."""
    hook = StepContextHook(config)
    HookRegistry.check_if_exists_or_initialize(module).register_hook(hook, STEP_CONTEXT_HOOK)
    return hook
