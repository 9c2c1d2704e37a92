"""Model-family adapters, chosen from the attention module's class (and, for diffusers' generic
`Attention`, from how the family calls it)."""

from __future__ import annotations

from typing import Any

import torch

from dit_accel.processors.adapters.base import Adapter, Attend
from dit_accel.processors.adapters.cogvideox import CogVideoXAdapter
from dit_accel.processors.adapters.flux import FluxAdapter
from dit_accel.processors.adapters.hunyuan_video import HunyuanVideoAdapter
from dit_accel.processors.adapters.ltx import LTXVideoAdapter
from dit_accel.processors.adapters.plain import PlainAttentionAdapter
from dit_accel.processors.adapters.wan import WanAdapter

# Order matters: HunyuanVideo's joint attention is told apart from CogVideoX's before the plain fallback.
ADAPTERS: tuple[Adapter, ...] = (
    WanAdapter(),
    HunyuanVideoAdapter(),
    CogVideoXAdapter(),
    LTXVideoAdapter(),
    FluxAdapter(),
    PlainAttentionAdapter(),
)
FAMILIES = tuple(adapter.family for adapter in ADAPTERS if adapter.transformer_classes)


def adapter_for(attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> Adapter:
    """The adapter that runs `attn` called with these inputs; ValueError for unsupported modules."""
    for adapter in ADAPTERS:
        if adapter.matches(attn, encoder_hidden_states, rotary):
            return adapter
    raise ValueError(
        f"dit_accel processors do not support {type(attn).__name__} "
        f"(called {'with' if encoder_hidden_states is not None else 'without'} encoder_hidden_states); "
        f"supported families: {'; '.join(FAMILIES)}"
    )


def adapter_for_transformer(transformer: torch.nn.Module) -> Adapter:
    """The adapter of a transformer model's family; ValueError for unsupported models."""
    for adapter in ADAPTERS:
        if adapter.handles_transformer(transformer):
            return adapter
    raise ValueError(
        f"dit_accel does not support {type(transformer).__name__}; supported families: {'; '.join(FAMILIES)}"
    )


__all__ = ["ADAPTERS", "FAMILIES", "Adapter", "Attend", "adapter_for", "adapter_for_transformer"]
