"""Which model the papers' settings (`dit_accel.methods.papers`) apply to, told from a pipeline's
transformers, and those settings under the user's own for `accelerate()`."""

from __future__ import annotations

from typing import Any

import torch

from dit_accel.methods.base import BUDGET_KEYS, Method
from dit_accel.methods.papers import paper_settings
from dit_accel.processors.adapters import adapter_for_transformer

# Transformer class -> the papers' model; two Wan transformers (high- and low-noise experts) are Wan 2.2
# A14B. Wan 2.2 TI2V 5B has one and gets Wan 2.1's settings: no paper tuned it.
_MODELS = {"WanTransformer3DModel": "wan2.1", "HunyuanVideoTransformer3DModel": "hunyuan_video"}


def paper_model(transformers: list[torch.nn.Module]) -> str | None:
    """ "wan2.1", "wan2.2", "hunyuan_video" or None (no paper settings) for a pipeline's transformers."""
    models = [_MODELS.get(type(module).__name__) for module in transformers]
    if not models or models[0] is None:
        return None
    return "wan2.2" if models[0] == "wan2.1" and len(models) > 1 else models[0]


def transformer_blocks(module: torch.nn.Module) -> int:
    """How many transformer blocks `module` runs (all its block lists)."""
    return sum(len(getattr(module, name)) for name in adapter_for_transformer(module).blocks)


def with_paper_defaults(
    transformers: list[torch.nn.Module],
    method: str | Method,
    options: dict[str, Any],
    schedule: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(method options, schedule) for `accelerate()`: the papers' settings of `method` on these
    transformers under the user's `options` and `schedule` (None = not given); a given density or mass
    replaces the paper's budget, and a Method instance keeps its own options."""
    model = paper_model(transformers)
    name = method.name if isinstance(method, Method) else method
    paper = paper_settings(model, transformer_blocks(transformers[0])).get(name, {}) if model else {}
    if set(BUDGET_KEYS) & options.keys():
        paper = {key: value for key, value in paper.items() if key not in BUDGET_KEYS}
    given = {key: value for key, value in schedule.items() if value is not None}
    schedule = {key: {**paper, **given}.get(key) for key in schedule}
    if isinstance(method, Method):
        return options, schedule
    own = {key: value for key, value in paper.items() if key not in schedule}
    return {**own, **options}, schedule
