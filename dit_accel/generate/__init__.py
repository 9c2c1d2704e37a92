"""Batch generation: method settings, prompt items, resumable generation of videos (or images) with
JSON sidecars, split across processes."""

from dit_accel.generate.batch import GenerationJob, call_pipeline, run_generation
from dit_accel.generate.items import PromptItem, make_items, process_rank, read_prompt_file, shard
from dit_accel.generate.settings import (
    METHOD_OPTIONS,
    SCHEDULE_KEYS,
    MethodSetting,
    install,
    resolve_setting,
)

__all__ = [
    "METHOD_OPTIONS",
    "SCHEDULE_KEYS",
    "GenerationJob",
    "MethodSetting",
    "PromptItem",
    "call_pipeline",
    "install",
    "make_items",
    "process_rank",
    "read_prompt_file",
    "resolve_setting",
    "run_generation",
    "shard",
]
