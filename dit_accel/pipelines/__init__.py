"""Pipeline-level acceleration: `accelerate(pipe, method, ...)`, step-aware schedule, pattern cache.

Exports are lazy (see `dit_accel.lazy`): the schedule and stats modules import without diffusers."""

from dit_accel.lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(["AccelerationConfig", "AccelerationHandle", "accelerate"], "dit_accel.pipelines.handle"),
    "PatternCache": "dit_accel.pipelines.cache",
    **dict.fromkeys(
        ["StepContextConfig", "StepContextHook", "apply_step_context"], "dit_accel.pipelines.hook"
    ),
    **dict.fromkeys(["Site", "StepRuntime"], "dit_accel.pipelines.runtime"),
    "DenseSchedule": "dit_accel.pipelines.schedule",
    **dict.fromkeys(["CallRecord", "StepLayerStats"], "dit_accel.pipelines.stats"),
    "StepState": "dit_accel.pipelines.steps",
}
__getattr__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
