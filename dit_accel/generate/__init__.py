"""Batch generation: method settings, prompt items, resumable generation of videos (or images) with
JSON sidecars, split across processes."""

from dit_accel.generate.batch import GenerationJob, call_pipeline, pending_items, run_generation
from dit_accel.generate.items import PromptItem, make_items, process_rank, read_prompt_file, shard
from dit_accel.generate.settings import (
    SCHEDULE_OPTIONS,
    STOCK,
    MethodSetting,
    Schedule,
    install,
    resolve_setting,
    setting_names,
    setting_options,
)

__all__ = [
    "SCHEDULE_OPTIONS",
    "STOCK",
    "GenerationJob",
    "MethodSetting",
    "PromptItem",
    "call_pipeline",
    "install",
    "make_items",
    "pending_items",
    "process_rank",
    "read_prompt_file",
    "Schedule",
    "resolve_setting",
    "run_generation",
    "setting_names",
    "setting_options",
    "shard",
]
