"""Pipeline-level acceleration: `accelerate(pipe, method, ...)`, step-aware schedule, pattern cache."""

from dit_accel.pipelines.accelerate import AccelerationConfig, AccelerationHandle, accelerate
from dit_accel.pipelines.cache import PatternCache
from dit_accel.pipelines.hook import StepContextConfig, StepContextHook, apply_step_context
from dit_accel.pipelines.runtime import Site, StepRuntime
from dit_accel.pipelines.schedule import DenseSchedule
from dit_accel.pipelines.stats import CallRecord, StepLayerStats
from dit_accel.pipelines.steps import StepState

__all__ = [
    "AccelerationConfig",
    "AccelerationHandle",
    "CallRecord",
    "DenseSchedule",
    "PatternCache",
    "Site",
    "StepContextConfig",
    "StepContextHook",
    "StepLayerStats",
    "StepRuntime",
    "StepState",
    "accelerate",
    "apply_step_context",
]
