"""Wan 2.1 transformers with random weights at real shapes, for the pipeline speed benchmark.

The configs are those of the Hub's `Wan-AI/Wan2.1-T2V-1.3B-Diffusers` and `Wan-AI/Wan2.1-T2V-14B-Diffusers`
(`transformer/config.json`); nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers import WanTransformer3DModel

_WAN21_COMMON: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
WAN21_1_3B: dict[str, Any] = {**_WAN21_COMMON, "num_attention_heads": 12, "ffn_dim": 8960, "num_layers": 30}
WAN21_14B: dict[str, Any] = {**_WAN21_COMMON, "num_attention_heads": 40, "ffn_dim": 13824, "num_layers": 40}


@dataclass(frozen=True)
class ModelCase:
    """One transformer forward to time.

    config:          `WanTransformer3DModel` keyword arguments (its `num_layers` is the full depth).
    layers:          blocks actually built (the first `layers` of the model).
    latents:         (channels, frames, height, width) of the latent video; batch 1.
    text_len:        text tokens (`encoder_hidden_states [1, text_len, text_dim]`).
    target_density:  the density the density-matched settings aim at.
    target_speedup:  the forward speedup vs stock the issue asks for at that density (None: no target).
    reduced:         True for the small CPU set, whose numbers say nothing about GPU speed.
    """

    name: str
    config: dict[str, Any] = field(hash=False)
    layers: int
    latents: tuple[int, int, int, int]
    text_len: int = 512
    target_density: float = 0.15
    target_speedup: float | None = None
    reduced: bool = False

    @property
    def grid(self) -> tuple[int, int, int]:
        """(frames, height, width) video tokens after patchify."""
        p_t, p_h, p_w = self.config["patch_size"]
        _, frames, height, width = self.latents
        return frames // p_t, height // p_h, width // p_w

    @property
    def tokens(self) -> int:
        frames, height, width = self.grid
        return frames * height * width

    @property
    def heads(self) -> int:
        return self.config["num_attention_heads"]

    @property
    def head_dim(self) -> int:
        return self.config["attention_head_dim"]


GPU_CASES = (
    # 81 frames x 480 x 832 pixels -> latents 21 x 60 x 104 -> 21 x 30 x 52 = 32,760 tokens.
    ModelCase("wan2.1-1.3b-480p", WAN21_1_3B, 30, (16, 21, 60, 104), target_speedup=2.2),
    # 81 frames x 720 x 1280 pixels -> latents 21 x 90 x 160 -> 21 x 45 x 80 = 75,600 tokens; 8 of 40 blocks.
    ModelCase("wan2.1-14b-720p", WAN21_14B, 8, (16, 21, 90, 160), target_density=0.1, target_speedup=3.0),
)
CPU_CASES = (
    # 1.3B-shaped blocks, 2 of them, 9 x 16 x 16 = 2,304 tokens: finishes in minutes on one core.
    ModelCase("wan2.1-1.3b-reduced", WAN21_1_3B, 2, (16, 9, 32, 32), reduced=True),
)
WAN21_TINY: dict[str, Any] = {
    **WAN21_1_3B,
    "num_attention_heads": 2,
    "attention_head_dim": 16,
    "ffn_dim": 32,
    "text_dim": 24,
}
TINY_CASES = (
    # Dry runs: 2 heads x 16 dims, 5 x 16 x 16 = 1,280 tokens; seconds on a CPU.
    ModelCase("wan2.1-tiny", WAN21_TINY, 2, (16, 5, 32, 32), text_len=4, reduced=True),
)


def build_transformer(
    case: ModelCase, device: torch.device, dtype: torch.dtype, layers: int | None = None, seed: int = 0
) -> WanTransformer3DModel:
    """`case`'s model with random weights and `layers` blocks (default `case.layers`), in eval mode.

    Parameters are cast to `dtype` except the modules diffusers keeps in fp32 (`_keep_in_fp32_modules`),
    as `from_pretrained(torch_dtype=dtype)` does.
    """
    config = {**case.config, "num_layers": case.layers if layers is None else layers}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.device(device):
        torch.manual_seed(seed)
        model = WanTransformer3DModel(**config)
    keep = model._keep_in_fp32_modules or []
    for name, param in model.named_parameters():
        if not any(part in keep for part in name.split(".")):
            param.data = param.data.to(dtype)
    return model.eval()


def make_inputs(
    case: ModelCase, device: torch.device, dtype: torch.dtype, seed: int = 0
) -> dict[str, torch.Tensor | bool]:
    """Forward keyword arguments: latents `[1, C, F, H, W]`, timestep `[1]` (500 of 1000) and text
    embeddings `[1, text_len, text_dim]`, in `dtype` on `device`."""
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, *case.latents, generator=generator)
    text = torch.randn(1, case.text_len, case.config["text_dim"], generator=generator)
    return {
        "hidden_states": latents.to(device, dtype),
        "timestep": torch.full((1,), 500.0, device=device),
        "encoder_hidden_states": text.to(device, dtype),
        "return_dict": False,
    }
