"""HunyuanVideo: joint self-attention over [video; text] (video first, text last) in the double- and
single-stream blocks; padded text keys are masked by a key-padding `attention_mask`. The text
refiner's plain attention runs the stock `AttnProcessor2_0`."""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.normalization import RMSNorm
from diffusers.models.transformers.transformer_hunyuan_video import (
    HunyuanVideoAttnProcessor2_0,
    HunyuanVideoTransformer3DModel,
)

from dit_accel.processors.adapters.base import Adapter, Attend


def key_lengths(mask: torch.Tensor | None, batch: int, seq_len: int) -> torch.Tensor | None:
    """Valid keys per batch element, int64 `[B]`, when `mask` (bool `[B, 1, 1, S]`, True = attend) keeps a
    prefix of the keys; None when there is no mask or it is not of that form."""
    if mask is None or mask.dtype != torch.bool or mask.shape != (batch, 1, 1, seq_len):
        return None
    valid = mask.view(batch, seq_len)
    lengths = valid.sum(-1)
    prefix = torch.arange(seq_len, device=mask.device) < lengths.unsqueeze(-1)
    return lengths if bool((valid == prefix).all()) else None


class HunyuanVideoAdapter(Adapter):
    family = "HunyuanVideo (Attention with HunyuanVideoAttnProcessor2_0)"
    stock_class = HunyuanVideoAttnProcessor2_0
    transformer_classes = (HunyuanVideoTransformer3DModel,)
    blocks = ("transformer_blocks", "single_transformer_blocks")

    def matches(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> bool:
        # Joint (added q/k/v) or single-stream (pre_only) attention with RMS q/k norms and a video rotary
        # embedding: how HunyuanVideo builds them; SD3-like joint attention has no rotary embedding.
        return (
            isinstance(attn, Attention)
            and isinstance(attn.norm_q, RMSNorm)
            and (attn.add_q_proj is not None or attn.pre_only)
            and encoder_hidden_states is not None
            and rotary is not None
        )

    def forward(
        self,
        processor: Attend,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        rotary: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        text_len = encoder_hidden_states.shape[1]
        single = attn.add_q_proj is None
        if single:
            hidden_states = torch.cat([hidden_states, encoder_hidden_states], dim=1)
        query = attn.to_q(hidden_states).unflatten(2, (attn.heads, -1))
        key = attn.to_k(hidden_states).unflatten(2, (attn.heads, -1))
        value = attn.to_v(hidden_states).unflatten(2, (attn.heads, -1))
        query, key = attn.norm_q(query), attn.norm_k(key)
        if single:
            # Rotary embedding on the video tokens only.
            query = torch.cat(
                [apply_rotary_emb(query[:, :-text_len], rotary, sequence_dim=1), query[:, -text_len:]], 1
            )
            key = torch.cat(
                [apply_rotary_emb(key[:, :-text_len], rotary, sequence_dim=1), key[:, -text_len:]], 1
            )
        else:
            query = apply_rotary_emb(query, rotary, sequence_dim=1)
            key = apply_rotary_emb(key, rotary, sequence_dim=1)
            text_q = attn.add_q_proj(encoder_hidden_states).unflatten(2, (attn.heads, -1))
            text_k = attn.add_k_proj(encoder_hidden_states).unflatten(2, (attn.heads, -1))
            text_v = attn.add_v_proj(encoder_hidden_states).unflatten(2, (attn.heads, -1))
            if attn.norm_added_q is not None:
                text_q = attn.norm_added_q(text_q)
            if attn.norm_added_k is not None:
                text_k = attn.norm_added_k(text_k)
            query = torch.cat([query, text_q], dim=1)
            key = torch.cat([key, text_k], dim=1)
            value = torch.cat([value, text_v], dim=1)

        batch, seq_len = query.shape[:2]
        out = processor.attend(
            attn,
            query,
            key,
            value,
            text_len=text_len,
            text_first=False,
            mask=attention_mask,
            key_len=key_lengths(attention_mask, batch, seq_len),
        )
        out = out.flatten(2, 3).to(query.dtype)
        video_out, text_out = out[:, :-text_len], out[:, -text_len:]
        if getattr(attn, "to_out", None) is not None:
            video_out = attn.to_out[1](attn.to_out[0](video_out))
        if getattr(attn, "to_add_out", None) is not None:
            text_out = attn.to_add_out(text_out)
        return video_out, text_out

    def video_grid(self, transformer: torch.nn.Module, inputs: dict[str, Any]) -> tuple[int, int, int] | None:
        p, p_t = transformer.config.patch_size, transformer.config.patch_size_t
        _, _, frames, height, width = inputs["hidden_states"].shape
        return frames // p_t, height // p, width // p
