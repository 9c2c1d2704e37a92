"""One forward's inputs for each tiny diffusers transformer (models from `dit_accel.models.tiny_random`).

Each `tiny_<family>(...)` returns (model, inputs, video_grid): `model(**inputs)` runs one forward whose
self-attention covers `video_grid` = (frames, height, width) tokens after patchify.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed

from dit_accel.models.tiny_random import (
    cogvideox_model,
    flux_model,
    hunyuan_video_model,
    ltx_model,
    wan_model,
)

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
    model = hunyuan_video_model(guidance=False, seed=seed)
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
    model = cogvideox_model(frames, size, text_len=text, text_dim=16, time_dim=8, rotary=True, seed=seed)
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
    model = ltx_model(channels=4, seed=seed)
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
    model = flux_model(guidance=False, seed=seed)
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


TINY_MODELS = {
    "wan": tiny_wan,
    "hunyuan_video": tiny_hunyuan_video,
    "cogvideox": tiny_cogvideox,
    "ltx": tiny_ltx,
    "flux": tiny_flux,
}
