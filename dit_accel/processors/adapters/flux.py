"""Flux.1: joint self-attention over [text; image] (text first). Double-stream blocks receive the text as
encoder_hidden_states; single-stream blocks receive the concatenation, so their text length is the
sequence length minus the image tokens."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.transformers.transformer_flux import (
    FluxAttention,
    FluxAttnProcessor,
    FluxTransformer2DModel,
)

from dit_accel.processors.adapters.base import Adapter, Attend


def _projections(
    attn: FluxAttention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None
) -> tuple[torch.Tensor, ...]:
    """(q, k, v, text_q, text_k, text_v) `[B, S, H*D]`, the text ones None in single-stream blocks."""
    text = encoder_hidden_states is not None and attn.added_kv_proj_dim is not None
    if attn.fused_projections:
        qkv = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        text_qkv = attn.to_added_qkv(encoder_hidden_states).chunk(3, dim=-1) if text else (None,) * 3
    else:
        qkv = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        text_qkv = (
            (
                attn.add_q_proj(encoder_hidden_states),
                attn.add_k_proj(encoder_hidden_states),
                attn.add_v_proj(encoder_hidden_states),
            )
            if text
            else (None,) * 3
        )
    return (*qkv, *text_qkv)


class FluxAdapter(Adapter):
    family = "Flux.1 (FluxAttention)"
    stock_class = FluxAttnProcessor
    transformer_classes = (FluxTransformer2DModel,)
    blocks = ("transformer_blocks", "single_transformer_blocks")

    def matches(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> bool:
        return isinstance(attn, FluxAttention)

    def accelerates(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None) -> bool:
        return (attn.added_kv_proj_dim is not None) == (encoder_hidden_states is not None)

    def forward(
        self,
        processor: Attend,
        attn: FluxAttention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        query, key, value, text_q, text_k, text_v = _projections(attn, hidden_states, encoder_hidden_states)
        query = attn.norm_q(query.unflatten(-1, (-1, attn.head_dim)))
        key = attn.norm_k(key.unflatten(-1, (-1, attn.head_dim)))
        value = value.unflatten(-1, (-1, attn.head_dim))
        text_len = None
        if encoder_hidden_states is not None:
            text_len = encoder_hidden_states.shape[1]
            query = torch.cat([attn.norm_added_q(text_q.unflatten(-1, (-1, attn.head_dim))), query], dim=1)
            key = torch.cat([attn.norm_added_k(text_k.unflatten(-1, (-1, attn.head_dim))), key], dim=1)
            value = torch.cat([text_v.unflatten(-1, (-1, attn.head_dim)), value], dim=1)
        if rotary is not None:
            query = apply_rotary_emb(query, rotary, sequence_dim=1)
            key = apply_rotary_emb(key, rotary, sequence_dim=1)

        out = processor.attend(
            attn, query, key, value, text_len=text_len, text_first=True, mask=attention_mask
        )
        out = out.flatten(2, 3).to(query.dtype)
        if encoder_hidden_states is None:
            return out
        text_out, image_out = out.split_with_sizes([text_len, out.shape[1] - text_len], dim=1)
        image_out = attn.to_out[1](attn.to_out[0](image_out.contiguous()))
        return image_out, attn.to_add_out(text_out.contiguous())

    def video_grid(self, transformer: torch.nn.Module, inputs: dict[str, Any]) -> tuple[int, int, int] | None:
        ids = inputs.get("img_ids")
        if ids is None:
            return None
        ids = ids[0] if ids.ndim == 3 else ids  # [S, 3]: (frame, row, column) per image token
        frames, height, width = (int(n) + 1 for n in ids.max(0).values.tolist())
        if frames * height * width != inputs["hidden_states"].shape[1]:
            return None
        return frames, height, width
