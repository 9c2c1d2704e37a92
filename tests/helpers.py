"""Shared test utilities: random layouts, relative errors, strict JSON, a dead pid, method options and
runs of tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dit_accel.layout import BlockLayout, num_blocks
from dit_accel.processes import pid_alive


def strict_json(path: Path) -> dict:
    """A JSON file loaded with a parser that rejects NaN and Infinity."""

    def reject(constant: str) -> None:
        raise ValueError(f"{path}: non-standard JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=reject)


def dead_pid() -> int:
    """A pid no process on this machine has."""
    return next(pid for pid in range(4_000_000, 4_100_000) if not pid_alive(pid))


# Options that make each sparse method skip blocks on the tiny Wan models (with block_size=16).
METHOD_OPTIONS = {
    "radial": {"decay": 0.05},
    "window": {"window": (1, 4, 4)},
    "draft": {"density": 0.3},
    "reordered": {"order": "semantic", "density": 0.3},
    "adaptive": {"mass": 0.5},
}


def rel_l2(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| in float64; NaN anywhere gives inf."""
    out, ref = out.double(), ref.double()
    if not torch.isfinite(out).all():
        return float("inf")
    return float((out - ref).norm() / ref.norm().clamp_min(1e-30))


def random_layout(
    batch: int,
    heads: int,
    q_len: int,
    kv_len: int,
    block_q: int,
    block_k: int,
    density: float,
    generator: torch.Generator,
    empty_rows: int = 0,
) -> BlockLayout:
    """A random layout with about `density` of the blocks kept, at least one per row except the first
    `empty_rows` query blocks of head 0, which are empty."""
    nq, nk = num_blocks(q_len, block_q), num_blocks(kv_len, block_k)
    mask = torch.rand(batch, heads, nq, nk, generator=generator) < density
    first = torch.randint(0, nk, (batch, heads, nq, 1), generator=generator)
    mask.scatter_(-1, first, True)
    mask[:, 0, :empty_rows] = False
    return BlockLayout.from_mask(mask, q_len, kv_len, block_q, block_k)


def wan_latents(
    pipe, steps: int = 3, height: int = 128, width: int = 128, num_frames: int = 9, **kwargs
) -> torch.Tensor:
    """Latents of a seeded run of a (tiny) WanPipeline with classifier-free guidance."""
    kwargs = {"prompt": "a cat runs on the grass", "negative_prompt": "blurry bad video", **kwargs}
    return pipe(
        height=height,
        width=width,
        num_frames=num_frames,
        num_inference_steps=steps,
        guidance_scale=5.0,
        max_sequence_length=8,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    ).frames
