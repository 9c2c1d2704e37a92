"""Plain `Attention` self-attention that no supported family accelerates (e.g. HunyuanVideo's text
refiner): always the stock `AttnProcessor2_0`."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from dit_accel.processors.adapters.base import Adapter


class PlainAttentionAdapter(Adapter):
    family = "plain self-attention (Attention called without encoder_hidden_states, e.g. text refiners)"
    stock_class = AttnProcessor2_0

    def matches(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> bool:
        return isinstance(attn, Attention) and encoder_hidden_states is None and rotary is None

    def accelerates(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None) -> bool:
        return False
