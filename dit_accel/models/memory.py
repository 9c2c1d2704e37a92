"""The memory a generation request needs, estimated from the model's footprint before anything loads,
and the memory the device has.

The estimate is deliberately low (the few largest live tensors, not a profile), so that a request it
refuses certainly does not fit, while one it accepts may still run short on a busy device:
  weights      every parameter of the pipeline in the run's dtype;
  transformer  ACTIVATION_COPIES tensors [B, tokens, dim] alive inside one block;
  attention    the block map [B, H, nq, nk] (fp32) a dynamic method scores, or [nq, nk] of a static one
               (nq = nk = tokens / block size); the stock path's attention works in O(tokens) memory;
  vae          VAE_COPIES decoder tensors [channels, frames, height, width] at full resolution, for the
               frames one latent frame decodes to.
The transformer and the VAE do not run at once, so the total is weights + the larger of the two."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from dit_accel.models.spec import Footprint, ModelSpec

GIB = 2**30
ACTIVATION_COPIES = 8
VAE_COPIES = 2
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def token_count(footprint: Footprint, height: int, width: int, frames: int) -> int:
    """Transformer tokens of one video (image) of `frames` x `height` x `width` pixels."""
    temporal, spatial = footprint.vae
    patch_t, patch_h, patch_w = footprint.patch
    latent_frames = (frames - 1) // temporal + 1
    return (
        math.ceil(latent_frames / patch_t) * (height // (spatial * patch_h)) * (width // (spatial * patch_w))
    )


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a request needs, by part (see the module docstring), and its tokens per video."""

    tokens: int
    weights: int
    transformer: int
    attention: int
    vae: int

    @property
    def total(self) -> int:
        return self.weights + max(self.transformer + self.attention, self.vae)

    def describe(self) -> str:
        parts = {
            "weights": self.weights,
            "transformer": self.transformer,
            "attention": self.attention,
            "VAE": self.vae,
        }
        listed = ", ".join(f"{name} {size / GIB:,.1f}" for name, size in parts.items())
        return f"about {self.total / GIB:,.1f} GiB ({self.tokens:,} tokens; {listed} GiB)"


def estimate(
    spec: ModelSpec,
    height: int,
    width: int,
    frames: int,
    batch: int,
    dtype: str,
    block_size: int | None,
    static: bool = False,
    context_parallel: int = 1,
) -> MemoryEstimate:
    """The memory of generating `batch` videos of one size with `spec` in `dtype` (a DTYPE_BYTES name),
    per process. block_size: the method's (None: stock attention); static: the method's map is shared
    by heads; context_parallel: processes that split each video's tokens (or heads) between them."""
    footprint = spec.footprint
    size = DTYPE_BYTES[dtype]
    tokens = token_count(footprint, height, width, frames)
    attention = 0
    if block_size is not None:
        blocks = math.ceil(tokens / block_size)
        attention = blocks * blocks * (1 if static else 4 * batch * footprint.heads)
    decoded_frames = 1 if spec.is_image else footprint.vae[0]
    vae_size = 4 if spec.vae_fp32 else size
    return MemoryEstimate(
        tokens=tokens,
        weights=int(footprint.params * size),
        transformer=batch * tokens * footprint.dim * size * ACTIVATION_COPIES // context_parallel,
        attention=attention // context_parallel,
        vae=decoded_frames * height * width * footprint.vae_channels * vae_size * VAE_COPIES,
    )


def available_bytes(device: str) -> int | None:
    """Free memory of `device` ("cpu", "cuda", "cuda:N"); None where it cannot be told (then nothing is
    refused)."""
    if device.startswith("cuda"):
        import torch

        index = int(device.partition(":")[2] or torch.cuda.current_device())
        return int(torch.cuda.mem_get_info(index)[0])
    if device != "cpu":
        return None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
