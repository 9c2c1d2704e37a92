"""CogVideoX 1.0 / 1.5: joint self-attention over [text; video] (text first); rotary embedding (5B
models) on the video tokens only."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention_processor import Attention, CogVideoXAttnProcessor2_0
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXTransformer3DModel

from dit_accel.processors.adapters.base import Adapter, Attend, prepare_mask


class CogVideoXAdapter(Adapter):
    family = "CogVideoX (Attention with CogVideoXAttnProcessor2_0)"
    stock_class = CogVideoXAttnProcessor2_0
    transformer_classes = (CogVideoXTransformer3DModel,)
    blocks = ("transformer_blocks",)

    def matches(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> bool:
        # Text arrives as encoder_hidden_states of a self-attention module without added projections.
        return (
            isinstance(attn, Attention)
            and not attn.is_cross_attention
            and not attn.pre_only
            and attn.add_q_proj is None
            and (attn.norm_q is None or isinstance(attn.norm_q, torch.nn.LayerNorm))
            and encoder_hidden_states is not None
        )

    def forward(
        self,
        processor: Attend,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        text_len = encoder_hidden_states.size(1)
        hidden_states = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        batch, seq_len, _ = hidden_states.shape
        attention_mask = prepare_mask(attn, attention_mask, batch, seq_len)

        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim)
        key = key.view(batch, -1, attn.heads, head_dim)
        value = value.view(batch, -1, attn.heads, head_dim)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if rotary is not None:
            video_q = apply_rotary_emb(query[:, text_len:], rotary, sequence_dim=1)
            video_k = apply_rotary_emb(key[:, text_len:], rotary, sequence_dim=1)
            query = torch.cat([query[:, :text_len], video_q], dim=1)
            key = torch.cat([key[:, :text_len], video_k], dim=1)

        out = processor.attend(
            attn, query, key, value, text_len=text_len, text_first=True, mask=attention_mask
        )
        out = out.reshape(batch, -1, attn.heads * head_dim)
        out = attn.to_out[1](attn.to_out[0](out))
        text_out, video_out = out.split([text_len, seq_len - text_len], dim=1)
        return video_out, text_out

    def video_grid(self, transformer: torch.nn.Module, inputs: dict[str, Any]) -> tuple[int, int, int] | None:
        p, p_t = transformer.config.patch_size, transformer.config.patch_size_t or 1
        _, frames, _, height, width = inputs["hidden_states"].shape
        return frames // p_t, height // p, width // p
