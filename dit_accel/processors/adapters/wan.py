"""Wan 2.1 / 2.2 (T2V, I2V, TI2V): video-only self-attention in attn1; attn2 (text, and the I2V image
context through `add_k_proj`) runs the stock processor."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.transformers.transformer_wan import (
    WanAttention,
    WanAttnProcessor,
    WanTransformer3DModel,
)
from diffusers.models.transformers.transformer_wan_vace import WanVACETransformer3DModel

from dit_accel.processors.adapters.base import Adapter, Attend


def _apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's interleaved rotary embedding (`WanAttnProcessor`'s): x `[B, S, H, D]`, cos/sin `[1, S, 1, D]`."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    cos = cos[..., 0::2]
    sin = sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out.type_as(x)


def _first_change(part: torch.Tensor, limit: int) -> int:
    """Index of the first row of `part [S, d]` (among the first `limit`) that differs from row 0."""
    changed = (part[:limit] != part[0]).any(-1).nonzero()
    return int(changed[0, 0]) if len(changed) else limit


def rotary_video_grid(freqs_cos: torch.Tensor) -> tuple[int, int, int] | None:
    """(frames, height, width) from Wan's rotary table `[1, S, 1, D]`: its t, h and w sections
    (`WanRotaryPosEmbed` splits D into t, h, w parts) change at each new frame, row and token."""
    table = freqs_cos[0, :, 0]  # [S, D]
    seq_len, dim = table.shape
    hw_dim = 2 * (dim // 6)
    t_dim = dim - 2 * hw_dim
    per_frame = _first_change(table[:, :t_dim], seq_len)
    width = _first_change(table[:, t_dim : t_dim + hw_dim], per_frame)
    if seq_len % per_frame or per_frame % width:
        return None
    return seq_len // per_frame, per_frame // width, width


class WanAdapter(Adapter):
    family = "Wan 2.1/2.2 (WanAttention)"
    stock_class = WanAttnProcessor
    transformer_classes = (WanTransformer3DModel, WanVACETransformer3DModel)
    blocks = ("blocks",)

    def matches(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> bool:
        return isinstance(attn, WanAttention)

    def accelerates(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None) -> bool:
        return encoder_hidden_states is None and attn.add_k_proj is None

    def forward(
        self,
        processor: Attend,
        attn: WanAttention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        if attn.fused_projections:
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        else:
            query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        if rotary is not None:
            query = _apply_rotary(query, *rotary)
            key = _apply_rotary(key, *rotary)
        grid_table = rotary[0] if rotary is not None else None
        out = processor.attend(attn, query, key, value, mask=attention_mask, grid_table=grid_table)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))

    def video_grid(self, transformer: torch.nn.Module, inputs: dict[str, Any]) -> tuple[int, int, int] | None:
        p_t, p_h, p_w = transformer.config.patch_size
        _, _, frames, height, width = inputs["hidden_states"].shape
        return frames // p_t, height // p_h, width // p_w
