"""LTX-Video: video-only self-attention in attn1; attn2 (text cross-attention) runs the stock processor."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.transformers.transformer_ltx import (
    LTXAttention,
    LTXVideoAttnProcessor,
    LTXVideoTransformer3DModel,
    apply_rotary_emb,
)

from dit_accel.processors.adapters.base import Adapter, Attend, prepare_mask


class LTXVideoAdapter(Adapter):
    family = "LTX-Video (LTXAttention)"
    stock_class = LTXVideoAttnProcessor
    transformer_classes = (LTXVideoTransformer3DModel,)
    blocks = ("transformer_blocks",)

    def matches(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> bool:
        return isinstance(attn, LTXAttention)

    def accelerates(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None) -> bool:
        return encoder_hidden_states is None

    def forward(
        self,
        processor: Attend,
        attn: LTXAttention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        batch, seq_len, _ = hidden_states.shape
        attention_mask = prepare_mask(attn, attention_mask, batch, seq_len)
        query = attn.norm_q(attn.to_q(hidden_states))
        key = attn.norm_k(attn.to_k(hidden_states))
        value = attn.to_v(hidden_states)
        if rotary is not None:
            query = apply_rotary_emb(query, rotary)
            key = apply_rotary_emb(key, rotary)
        query = query.unflatten(2, (attn.heads, -1))
        key = key.unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))

        out = processor.attend(attn, query, key, value, mask=attention_mask)
        out = out.flatten(2, 3).to(query.dtype)
        return attn.to_out[1](attn.to_out[0](out))

    def video_grid(self, transformer: torch.nn.Module, inputs: dict[str, Any]) -> tuple[int, int, int] | None:
        frames, height, width = (inputs.get(name) for name in ("num_frames", "height", "width"))
        if frames is None or height is None or width is None or inputs.get("video_coords") is not None:
            return None
        p, p_t = transformer.config.patch_size, transformer.config.patch_size_t
        return int(frames) // p_t, int(height) // p, int(width) // p
