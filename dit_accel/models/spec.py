"""ModelSpec: what the CLI knows about a model it can run (where it comes from, sizes, settings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SizeRules:
    """The sizes a model accepts. multiple: height and width must be multiples of it (pixels);
    frame_step: frames must be frame_step * k + 1 (1: any count; 0: an image model, frames = 1);
    max_side / max_frames: the largest sizes accepted: what the position embeddings allow, else twice
    the largest size the model was trained at (None: no bound)."""

    multiple: int
    frame_step: int
    max_side: int | None = None
    max_frames: int | None = None

    def check(self, height: int, width: int, frames: int) -> tuple[str, str] | None:
        """None when the size is valid, else (argument, reason) for the first bad value."""
        for flag, value in (("--height", height), ("--width", width)):
            if value < self.multiple or value % self.multiple:
                return flag, f"must be a positive multiple of {self.multiple}, got {value}"
            if self.max_side is not None and value > self.max_side:
                return flag, f"must be at most {self.max_side}, got {value}"
        if self.frame_step == 0:
            return None if frames == 1 else ("--frames", f"must be 1 for an image model, got {frames}")
        if frames < 1 or (frames - 1) % self.frame_step:
            return "--frames", f"must be {self.frame_step}k+1 (1, {self.frame_step + 1}, ...), got {frames}"
        if self.max_frames is not None and frames > self.max_frames:
            return "--frames", f"must be at most {self.max_frames}, got {frames}"
        return None


@dataclass(frozen=True)
class Footprint:
    """What the memory of a request scales with, from the model's configs (approximate, for estimates).

    params:       parameters of the whole pipeline (transformers, text encoders, VAE);
    vae:          (temporal, spatial) compression of the VAE ((1, 1): pixel space, no VAE);
    patch:        (frames, height, width) latents per transformer token;
    dim, heads:   transformer width and attention heads;
    vae_channels: decoder channels at full resolution (0: no VAE)."""

    params: float
    vae: tuple[int, int]
    patch: tuple[int, int, int]
    dim: int
    heads: int
    vae_channels: int


@dataclass(frozen=True)
class ModelSpec:
    """A model the CLI can run.

    hub_id:      Hugging Face repo id (None: built locally, `build` makes it).
    pipeline:    diffusers pipeline class name loaded from `hub_id` or --model-path.
    kind:        "video" (mp4 out, `.frames`) or "image" (png out, `.images`).
    height/width/frames/steps/guidance: defaults of a run; fps: of the written mp4.
    call_kwargs: extra arguments of every pipeline call (e.g. max_sequence_length).
    recommended: per method, the options and schedule `accelerate()` gets unless flags override them.
    build:       makes the pipeline offline (tiny and demo models).
    footprint:   sizes for the memory estimate of a request (`dit_accel.models.memory`).
    """

    name: str
    family: str
    description: str
    pipeline: str
    kind: str
    height: int
    width: int
    frames: int
    steps: int
    guidance: float
    fps: int
    rules: SizeRules
    footprint: Footprint
    hub_id: str | None = None
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    recommended: dict[str, dict[str, Any]] = field(default_factory=dict)
    prompts: tuple[str, ...] = ()
    vae_fp32: bool = False
    build: Callable[[], Any] | None = None

    @property
    def is_image(self) -> bool:
        return self.kind == "image"
