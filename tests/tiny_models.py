"""Tiny diffusers transformers built from configs (no download); the tiny pipelines (and `wan_model`)
live in `dit_accel.models.tiny`, re-exported here.

Each `tiny_<family>(...)` returns (model, inputs, video_grid): `model(**inputs)` runs one forward whose
self-attention covers `video_grid` = (frames, height, width) tokens after patchify.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import (
    CogVideoXTransformer3DModel,
    FluxTransformer2DModel,
    HunyuanVideoTransformer3DModel,
    LTXVideoTransformer3DModel,
)
from diffusers.models.embeddings import get_3d_rotary_pos_embed

from dit_accel.models.tiny import tiny_wan_pipeline, wan_model

Tiny = tuple[torch.nn.Module, dict[str, Any], tuple[int, int, int]]


def _seeded(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def tiny_wan(image: bool = False, batch: int = 1, frames: int = 3, size: int = 16, seed: int = 0) -> Tiny:
    model = wan_model(image=image, seed=seed)
    g = _seeded(seed + 1)
    # I2V splits its context as [image tokens; 512 text tokens] (the length diffusers hard-codes).
    inputs = {
        "hidden_states": torch.randn(batch, 4, frames, size, size, generator=g),
        "timestep": torch.tensor([500.0] * batch),
        "encoder_hidden_states": torch.randn(batch, 512 if image else 8, 16, generator=g),
    }
    if image:
        inputs["encoder_hidden_states_image"] = torch.randn(batch, 4, 8, generator=g)
    return model, inputs, (frames, size // 2, size // 2)


def tiny_hunyuan_video(batch: int = 2, frames: int = 3, size: int = 8, text: int = 6, seed: int = 0) -> Tiny:
    """Text padded differently per batch element (key-padding attention mask)."""
    torch.manual_seed(seed)
    model = HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=12,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=1,
        patch_size_t=1,
        guidance_embeds=False,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(4, 4, 4),
    ).eval()
    g = _seeded(seed + 1)
    mask = torch.ones(batch, text, dtype=torch.long)
    for b in range(batch):
        mask[b, text - b :] = 0
    inputs = {
        "hidden_states": torch.randn(batch, 4, frames, size, size, generator=g),
        "timestep": torch.tensor([500] * batch),
        "encoder_hidden_states": torch.randn(batch, text, 16, generator=g),
        "encoder_attention_mask": mask,
        "pooled_projections": torch.randn(batch, 8, generator=g),
    }
    return model, inputs, (frames, size, size)


def tiny_cogvideox(batch: int = 1, frames: int = 3, size: int = 16, text: int = 8, seed: int = 0) -> Tiny:
    """CogVideoX 1.0 with rotary embeddings (as the 5B model), text first."""
    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=4,
        out_channels=4,
        time_embed_dim=8,
        text_embed_dim=16,
        num_layers=1,
        sample_width=size,
        sample_height=size,
        sample_frames=4 * (frames - 1) + 1,
        patch_size=2,
        max_text_seq_length=text,
        use_rotary_positional_embeddings=True,
    ).eval()
    g = _seeded(seed + 1)
    grid = (frames, size // 2, size // 2)
    rotary = get_3d_rotary_pos_embed(16, ((0, 0), grid[1:]), grid[1:], temporal_size=frames)
    inputs = {
        "hidden_states": torch.randn(batch, frames, 4, size, size, generator=g),
        "encoder_hidden_states": torch.randn(batch, text, 16, generator=g),
        "timestep": torch.tensor([500] * batch),
        "image_rotary_emb": rotary,
    }
    return model, inputs, grid


def tiny_ltx(batch: int = 1, frames: int = 3, size: int = 8, text: int = 6, seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    model = LTXVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=12,
        cross_attention_dim=24,
        num_layers=1,
        caption_channels=16,
    ).eval()
    g = _seeded(seed + 1)
    inputs = {
        "hidden_states": torch.randn(batch, frames * size * size, 4, generator=g),
        "encoder_hidden_states": torch.randn(batch, text, 16, generator=g),
        "timestep": torch.tensor([500] * batch),
        "encoder_attention_mask": torch.ones(batch, text, dtype=torch.long),
        "num_frames": frames,
        "height": size,
        "width": size,
    }
    return model, inputs, (frames, size, size)


def tiny_flux(batch: int = 1, height: int = 12, width: int = 16, text: int = 8, seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    model = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        pooled_projection_dim=8,
        axes_dims_rope=(4, 6, 6),
    ).eval()
    g = _seeded(seed + 1)
    img_ids = torch.zeros(height, width, 3)
    img_ids[..., 1] = torch.arange(height)[:, None]
    img_ids[..., 2] = torch.arange(width)[None, :]
    inputs = {
        "hidden_states": torch.randn(batch, height * width, 4, generator=g),
        "encoder_hidden_states": torch.randn(batch, text, 16, generator=g),
        "pooled_projections": torch.randn(batch, 8, generator=g),
        "timestep": torch.tensor([0.5] * batch),
        "img_ids": img_ids.reshape(-1, 3),
        "txt_ids": torch.zeros(text, 3),
    }
    return model, inputs, (1, height, width)


__all__ = ["TINY_MODELS", "Tiny", "tiny_wan_pipeline", "wan_model"]

TINY_MODELS = {
    "wan": tiny_wan,
    "hunyuan_video": tiny_hunyuan_video,
    "cogvideox": tiny_cogvideox,
    "ltx": tiny_ltx,
    "flux": tiny_flux,
}
