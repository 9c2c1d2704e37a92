"""accelerate(pipe, method, ...): sparse attention processors plus a step hook on every transformer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers.hooks.hooks import CacheContext

from dit_accel.methods.base import Method
from dit_accel.methods.registry import make_method
from dit_accel.pipelines.hook import STEP_CONTEXT_HOOK
from dit_accel.pipelines.install import Installed, install, uninstall
from dit_accel.pipelines.paper_defaults import with_paper_defaults
from dit_accel.pipelines.runtime import StepRuntime
from dit_accel.pipelines.schedule import DenseSchedule
from dit_accel.pipelines.stats import StepLayerStats, aggregate, summarize
from dit_accel.processors.adapters import ADAPTERS, FAMILIES, adapter_for_transformer
from dit_accel.processors.parallel import context_parallel_config
from dit_accel.processors.processor import SparseAttnProcessor


@dataclass(frozen=True)
class AccelerationConfig:
    """Settings of one `accelerate()` call.

    method:              the sparse attention method.
    schedule:            which calls run dense (warm-up steps, last steps, first layers).
    refresh_every:       a plan made at one step is reused for this many steps (static methods: forever).
    num_inference_steps: total steps, for fractional schedules when the pipeline's scheduler cannot tell.
    min_seq_len:         self-attention calls with fewer tokens run dense.
    timing:              synchronize CUDA around planning and attention so the stats' times are exact.
    """

    method: Method
    schedule: DenseSchedule = field(default_factory=DenseSchedule)
    refresh_every: int = 5
    num_inference_steps: int | None = None
    min_seq_len: int = 0
    timing: bool = False


def _transformers(pipe: Any) -> list[tuple[str, torch.nn.Module]]:
    """(name, module) of the pipeline's transformers of supported families; `pipe` may be one transformer."""
    if isinstance(pipe, torch.nn.Module):
        module = getattr(pipe, "_orig_mod", pipe)
        adapter_for_transformer(module)
        return [("transformer", module)]
    found = []
    for name, component in getattr(pipe, "components", {}).items():
        module = getattr(component, "_orig_mod", component)
        if isinstance(module, torch.nn.Module) and any(a.handles_transformer(module) for a in ADAPTERS):
            found.append((name, module))
    if not found:
        raise ValueError(
            f"{type(pipe).__name__} has no transformer of a supported family; "
            f"supported: {'; '.join(FAMILIES)}"
        )
    return found


def _total_steps(pipe: Any, config: AccelerationConfig, context: CacheContext | None) -> int | None:
    """The option, else what the pipeline's cache context says, else its scheduler's timestep count."""
    if config.num_inference_steps is not None:
        return config.num_inference_steps
    if context is not None and context.num_inference_steps is not None:
        return context.num_inference_steps
    timesteps = getattr(getattr(pipe, "scheduler", None), "timesteps", None)
    return len(timesteps) if timesteps is not None else None


class AccelerationHandle:
    """What `accelerate()` installed: read `stats()` / `summary()`, undo with `remove()`."""

    def __init__(self, config: AccelerationConfig, runtime: StepRuntime, installed: list[Installed]) -> None:
        self.config = config
        self.runtime = runtime
        self._installed = installed

    @property
    def method(self) -> Method:
        return self.config.method

    def stats(self) -> list[StepLayerStats]:
        """Per (generation, step, model, layer): calls, density, planning / attention seconds, hits."""
        return aggregate(self.runtime.records)

    def summary(self) -> dict[str, Any]:
        """Totals over all recorded calls, and `dense_causes`: how many calls ran dense for each reason
        (`"schedule"`, `"attention mask"`, ...)."""
        return {**summarize(self.runtime.records), "dense_causes": dict(self.runtime.dense_causes)}

    def remove(self) -> None:
        """Undo what `accelerate()` changed and nothing else: processors it set go back to the originals
        (the same objects), its step hook leaves; hooks and wrappers others installed before or after
        stay working."""
        for item in self._installed:
            uninstall(item)
        self._installed = []

    def __repr__(self) -> str:
        names = ", ".join(item.name for item in self._installed) or "removed"
        return f"AccelerationHandle({self.config.method!r} on {names})"


def accelerate(
    pipe: Any,
    method: str | Method,
    *,
    dense_steps: int | float | None = None,
    dense_last_steps: int | float = 0,
    dense_layers: int | None = None,
    dense_above_timestep: float | None = None,
    paper_defaults: bool = True,
    refresh_every: int = 5,
    num_inference_steps: int | None = None,
    min_seq_len: int = 0,
    timing: bool = False,
    **method_options: Any,
) -> AccelerationHandle:
    """Make the video self-attention of every transformer of `pipe` (or of `pipe` itself, a transformer)
    sparse, step-aware and cached.

    method:               "dense", "radial", "window", "draft", "reordered", "adaptive" or a Method
                          instance; `method_options` go to the method's constructor (e.g. decay=0.2).
    dense_steps:          first denoising steps run dense: an int count or a float fraction of all steps.
    dense_last_steps:     last steps run dense (same forms).
    dense_layers:         first transformer blocks run dense at every step.
    dense_above_timestep: steps whose timestep is above this run dense.
    paper_defaults:       on a pipeline, options and schedule not given (None) take the values the
                          method's paper uses for its model (Wan 2.1, Wan 2.2 A14B, HunyuanVideo;
                          `dit_accel.methods.papers`; a Method instance keeps its own options); else,
                          and on a bare transformer (no scheduler to count steps), 0.
    refresh_every:        steps a plan is reused before it is re-estimated (warm-started from the old one).
    See `AccelerationConfig` for the rest.
    """
    transformers = _transformers(pipe)
    schedule = {
        "dense_steps": dense_steps,
        "dense_layers": dense_layers,
        "dense_above_timestep": dense_above_timestep,
    }
    if paper_defaults and not isinstance(pipe, torch.nn.Module):
        method_options, schedule = with_paper_defaults(
            [m for _, m in transformers], method, method_options, schedule
        )
    config = AccelerationConfig(
        method=make_method(method, **method_options),
        schedule=DenseSchedule(
            schedule["dense_steps"] or 0,
            dense_last_steps,
            schedule["dense_layers"] or 0,
            schedule["dense_above_timestep"],
        ),
        refresh_every=refresh_every,
        num_inference_steps=num_inference_steps,
        min_seq_len=min_seq_len,
        timing=timing,
    )
    for name, module in transformers:
        registry = getattr(module, "_diffusers_hook", None)
        if registry is not None and registry.get_hook(STEP_CONTEXT_HOOK) is not None:
            raise ValueError(f"{name} is already accelerated; call remove() on its handle first")
    runtime = StepRuntime(
        config.schedule,
        config.refresh_every,
        config.timing,
        total_steps=lambda context: _total_steps(pipe, config, context),
    )
    # One processor per transformer: each carries its transformer's context-parallel config (checked here,
    # before anything is installed), as `enable_parallelism` gives it to processors set before it.
    processors = []
    for _, module in transformers:
        processor = SparseAttnProcessor(config.method, min_seq_len=config.min_seq_len, runtime=runtime)
        processor._parallel_config = context_parallel_config(module)
        processors.append(processor)
    installed = [
        install(name, module, processor, runtime)
        for (name, module), processor in zip(transformers, processors, strict=True)
    ]
    return AccelerationHandle(config, runtime, installed)
