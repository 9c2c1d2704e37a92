"""DemoVideoPipeline: text -> video with the demo WanTransformer3DModel, in pixel space (no VAE)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from dit_accel.demo.config import COORDINATE_CHANNELS, DemoConfig
from dit_accel.demo.data import LEVEL_WIDTH
from dit_accel.demo.text import DemoTextEncoder

_DEFAULT = DemoConfig()


@dataclass
class DemoVideoPipelineOutput(BaseOutput):
    """frames: "np" [B, F, H, W, 3] float32 in [0, 1]; "pt" [B, F, 3, H, W] in [0, 1]; "pil" B lists of
    F images; "latent" the raw sample [B, 3, F, H, W] in about [-1, 1]."""

    frames: np.ndarray | torch.Tensor | list[list[PIL.Image.Image]]


def with_coordinates(video: torch.Tensor, channels: int = COORDINATE_CHANNELS) -> torch.Tensor:
    """[B, 3, F, H, W] -> [B, 3 + channels, F, H, W]: the video followed by the frame t, row y and column x of
    each pixel (each spread over [-1, 1] across the clip, so they mean the same at any size), their
    products t², y², x², ty, tx, yx, and the waves sin(pi r / L), sin(pi c / L) of row r and column c
    (pixel centres) at the background texture's level width L (data.LEVEL_WIDTH of the shorter side)
    and their product. An object moving or growing at a steady rate covers the pixels where a quadratic
    in (t, y, x) is negative, with coefficients set by the caption; with these channels that quadratic
    is linear in the input, so the caption's adaLN scale can pick it out. Each 4 x 4 patch sums a wave
    to +-c, so the stripes and checks are linear in the input too: RoPE is relative and smooth
    coordinates have no period. `channels` 9 stops before the waves (models trained before them)."""
    if channels not in (9, COORDINATE_CHANNELS):
        raise ValueError(f"channels must be 9 or {COORDINATE_CHANNELS}, got {channels}")
    batch, _, frames, height, width = video.shape

    def axis(n: int) -> torch.Tensor:
        return torch.linspace(-1.0, 1.0, n, device=video.device, dtype=video.dtype) * (n > 1)

    def wave(n: int) -> torch.Tensor:
        level = LEVEL_WIDTH * min(height, width)
        centres = torch.arange(n, device=video.device, dtype=torch.float32) + 0.5
        return torch.sin(math.pi * centres / level).to(video.dtype)

    t, y, x = torch.meshgrid(axis(frames), axis(height), axis(width), indexing="ij")
    _, wave_y, wave_x = torch.meshgrid(axis(frames), wave(height), wave(width), indexing="ij")
    grid = [t, y, x, t * t, y * y, x * x, t * y, t * x, y * x, wave_y, wave_x, wave_y * wave_x]
    grid = torch.stack(grid[:channels])
    return torch.cat([video, grid.expand(batch, -1, -1, -1, -1)], dim=1)


def transformer_inputs(transformer: WanTransformer3DModel, video: torch.Tensor) -> torch.Tensor:
    """`video` [B, 3, F, H, W] with the coordinate channels `transformer` was built for, in its dtype."""
    return with_coordinates(video.to(transformer.dtype), transformer.config.in_channels - 3)


def _check_prompt(prompt: str | list[str]) -> list[str]:
    prompts = [prompt] if isinstance(prompt, str) else list(prompt or [])
    if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
        raise ValueError(f"`prompt` must be a non-empty string or list of non-empty strings, got {prompt!r}")
    return prompts


class DemoVideoPipeline(DiffusionPipeline):
    """Rectified-flow sampling of [B, 3, F, H, W] RGB videos with classifier-free guidance, run as
    separate cond and uncond transformer forwards (as WanPipeline does). The transformer sees each
    sample `with_coordinates`, as Wan's image-to-video model sees its extra condition channels."""

    model_cpu_offload_seq = "text_encoder->transformer"
    _callback_tensor_inputs = ["latents"]

    def __init__(
        self,
        transformer: WanTransformer3DModel,
        text_encoder: DemoTextEncoder,
        scheduler: FlowMatchEulerDiscreteScheduler,
    ):
        super().__init__()
        self.register_modules(transformer=transformer, text_encoder=text_encoder, scheduler=scheduler)

    def encode_prompt(
        self,
        prompt: str | list[str],
        num_videos_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(cond, uncond or None): [B * num_videos_per_prompt, L, text_dim] each, in the transformer dtype."""
        prompts = _check_prompt(prompt)
        dtype = self.transformer.dtype
        cond = self.text_encoder.encode(prompts).to(dtype).repeat_interleave(num_videos_per_prompt, dim=0)
        uncond = None
        if do_classifier_free_guidance:
            uncond = self.text_encoder.encode([""] * len(cond)).to(dtype)
        return cond, uncond

    def _denoise(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor,
        branch: str,
        step: int,
        attention_kwargs: dict[str, Any] | None,
    ) -> torch.Tensor:
        """One transformer forward, labelled (branch, step) for diffusers' cache/step hooks."""
        context_kwargs = {
            "step_index": step,
            "num_inference_steps": len(self.scheduler.timesteps),
            "timestep": timestep[0],
            "sigma": float(self.scheduler.sigmas[step]),
        }
        with self.transformer.cache_context(branch, **context_kwargs):
            return self.transformer(
                hidden_states=transformer_inputs(self.transformer, latents),
                timestep=timestep,
                encoder_hidden_states=context,
                attention_kwargs=attention_kwargs,
                return_dict=False,
            )[0].float()

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        num_frames: int = _DEFAULT.frames,
        height: int = _DEFAULT.height,
        width: int = _DEFAULT.width,
        num_inference_steps: int = 20,
        guidance_scale: float = 4.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | tuple[str, ...] = ("latents",),
        num_videos_per_prompt: int = 1,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> DemoVideoPipelineOutput | tuple:
        """Generate videos for `prompt`. height/width: pixels, multiples of the patch size; guidance_scale
        <= 1 runs the cond branch only. Returns `DemoVideoPipelineOutput` (see its doc for the layouts)."""
        _, p_h, p_w = self.transformer.config.patch_size
        if height % p_h or width % p_w:
            raise ValueError(
                f"height and width must be multiples of the patch ({p_h}, {p_w}), got {height}x{width}"
            )
        if output_type not in ("np", "pt", "pil", "latent"):
            raise ValueError(f"output_type must be 'np', 'pt', 'pil' or 'latent', got {output_type!r}")
        bad = set(callback_on_step_end_tensor_inputs) - set(self._callback_tensor_inputs)
        if bad:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs may only hold {self._callback_tensor_inputs}"
            )
        do_cfg = guidance_scale > 1.0
        cond, uncond = self.encode_prompt(prompt, num_videos_per_prompt, do_cfg)
        device = self._execution_device
        cond = cond.to(device)
        uncond = uncond.to(device) if uncond is not None else None

        shape = (len(cond), self.transformer.config.out_channels, num_frames, height, width)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        latents = latents.to(device, torch.float32)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        self.scheduler.set_begin_index(0)
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            timestep = t.expand(len(latents))
            velocity = self._denoise(latents, timestep, cond, "cond", i, attention_kwargs)
            if do_cfg:
                velocity_uncond = self._denoise(latents, timestep, uncond, "uncond", i, attention_kwargs)
                velocity = velocity_uncond + guidance_scale * (velocity - velocity_uncond)
            latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]
            if callback_on_step_end is not None:
                local = {"latents": latents}
                outputs = callback_on_step_end(
                    self, i, t, {k: local[k] for k in callback_on_step_end_tensor_inputs}
                )
                latents = outputs.pop("latents", latents)

        self.maybe_free_model_hooks()
        video = latents if output_type == "latent" else _postprocess(latents, output_type)
        return DemoVideoPipelineOutput(frames=video) if return_dict else (video,)


def _postprocess(latents: torch.Tensor, output_type: str) -> np.ndarray | torch.Tensor | list:
    """[B, 3, F, H, W] in [-1, 1] -> the layout of `output_type` in [0, 1]."""
    video = (latents / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 4, 1)  # [B, F, H, W, 3]
    if output_type == "pt":
        return video.permute(0, 1, 4, 2, 3).contiguous()
    array = video.float().cpu().numpy()
    if output_type == "np":
        return array
    return [[PIL.Image.fromarray((frame * 255).round().astype(np.uint8)) for frame in clip] for clip in array]
