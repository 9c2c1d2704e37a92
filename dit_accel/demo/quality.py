"""Quality checks of a demo pipeline: does it follow captions, and how local is its attention."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from diffusers.models.transformers.transformer_wan import WanAttnProcessor
from torch.overrides import TorchFunctionMode

from dit_accel.demo.data import BACKGROUNDS, COLOURS, MOTIONS, SHAPES, VideoSpec, make_sample
from dit_accel.demo.describe import describe_video
from dit_accel.demo.pipeline import DemoVideoPipeline, transformer_inputs

# 20 evaluation captions: every colour and motion, shapes and backgrounds mixed.
EVAL_SPECS: tuple[VideoSpec, ...] = tuple(
    VideoSpec(colour, shape, motion, background)
    for colour, shape, motion, background in [
        ("red", "circle", "moving left", "plain"),
        ("yellow", "square", "moving right", "striped"),
        ("green", "triangle", "moving up", "checkered"),
        ("cyan", "diamond", "moving down", "plain"),
        ("blue", "circle", "bouncing", "striped"),
        ("purple", "square", "growing", "checkered"),
        ("red", "triangle", "changing colour", "plain"),
        ("yellow", "diamond", "moving left", "checkered"),
        ("green", "circle", "moving right", "plain"),
        ("cyan", "square", "moving up", "striped"),
        ("blue", "triangle", "moving down", "checkered"),
        ("purple", "diamond", "bouncing", "plain"),
        ("red", "square", "growing", "striped"),
        ("yellow", "circle", "changing colour", "checkered"),
        ("green", "diamond", "moving down", "striped"),
        ("cyan", "circle", "moving left", "checkered"),
        ("blue", "square", "moving right", "plain"),
        ("purple", "triangle", "moving up", "striped"),
        ("red", "diamond", "bouncing", "checkered"),
        ("blue", "circle", "growing", "plain"),
    ]
)
EVAL_PROMPTS: tuple[str, ...] = tuple(spec.caption for spec in EVAL_SPECS)


def _held_out(count: int) -> tuple[VideoSpec, ...]:
    """`count` caption combinations outside EVAL_SPECS: stepping 109 = 84 + 21 + 3 + 1 through their
    product order moves colour, shape, motion and background on by one each (109 is prime, so no
    combination comes twice)."""
    every = [VideoSpec(*combo) for combo in itertools.product(COLOURS, SHAPES, MOTIONS, BACKGROUNDS)]
    picked = (every[i * 109 % len(every)] for i in range(len(every)))
    return tuple(itertools.islice((spec for spec in picked if spec not in EVAL_SPECS), count))


# 40 combinations that training never draws (`train` excludes them), to test captions, not memory.
HELD_OUT_SPECS: tuple[VideoSpec, ...] = _held_out(40)
# What `caption_following` checks, in `describe_video`'s keys.
ATTRIBUTES = ("colour", "shape", "motion", "background")


def caption_following(
    pipe: DemoVideoPipeline,
    specs: tuple[VideoSpec, ...] = EVAL_SPECS,
    seed: int = 0,
    batch_size: int = 4,
    **call_kwargs,
) -> dict:
    """Generate one video per spec (generator seed + i) and decode it with `describe_video`.
    Returns {"score": fraction decoded with all of the caption's colour, shape, motion and background,
    "attributes": {attribute: fraction right}, "results": [(caption, decoded)]}."""
    results = []
    for first in range(0, len(specs), batch_size):
        chunk = specs[first : first + batch_size]
        generators = [torch.Generator().manual_seed(seed + first + i) for i in range(len(chunk))]
        frames = pipe(
            [s.caption for s in chunk], generator=generators, output_type="np", **call_kwargs
        ).frames
        results += [(spec.caption, describe_video(video)) for spec, video in zip(chunk, frames, strict=True)]
    right = [
        {name: got[name] == getattr(spec, name) for name in ATTRIBUTES}
        for spec, (_, got) in zip(specs, results, strict=True)
    ]
    return {
        "score": sum(all(r.values()) for r in right) / len(specs),
        "attributes": {name: sum(r[name] for r in right) / len(specs) for name in ATTRIBUTES},
        "results": results,
    }


class _CaptureSelfAttention(TorchFunctionMode):
    """Records q and k [B, H, S, D] of every SDPA call whose queries and keys have the same length."""

    def __init__(self) -> None:
        super().__init__()
        self.qk: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            q, k = (*args, None, None)[:2]
            q, k = kwargs.get("query", q), kwargs.get("key", k)
            if q.shape[-2] == k.shape[-2]:
                self.qk.append((q.detach().float().cpu(), k.detach().float().cpu()))
        return func(*args, **kwargs)


def _block_centres(grid: tuple[int, int, int], block_size: int) -> torch.Tensor:
    """(frame, row, column) centre of each run of `block_size` tokens in sequence order: [nb, 3]."""
    f, h, w = grid
    coords = torch.stack(torch.meshgrid(torch.arange(f), torch.arange(h), torch.arange(w), indexing="ij"), -1)
    coords = coords.reshape(-1, 3).float()
    blocks = math.ceil(len(coords) / block_size)
    index = torch.arange(len(coords)) // block_size
    sums = torch.zeros(blocks, 3).index_add_(0, index, coords)
    return sums / torch.bincount(index, minlength=blocks).unsqueeze(1)


def _local_mass(
    q: torch.Tensor, k: torch.Tensor, centres: torch.Tensor, block_size: int, nearest: float
) -> float:
    """Mean over batch, heads and query blocks of the softmax mass on the nearest key blocks."""
    blocks = len(centres)
    keep = max(1, math.ceil(nearest * blocks))
    near = torch.cdist(centres, centres).argsort(dim=1, stable=True)[:, :keep]  # [nb, keep]
    is_near = torch.zeros(blocks, blocks, dtype=torch.bool).scatter_(1, near, True)
    key_block = torch.arange(k.shape[-2]) // block_size
    total = 0.0
    for first in range(0, q.shape[-2], block_size):
        probs = torch.softmax(
            q[..., first : first + block_size, :] @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, -1
        )
        total += probs[..., is_near[first // block_size][key_block]].sum(-1).mean().item()
    return total / blocks


@torch.no_grad()
def attention_locality(
    pipe: DemoVideoPipeline,
    seed: int = 0,
    sigma: float = 0.5,
    block_size: int = 64,
    nearest: float = 0.2,
    num_frames: int = 9,
    height: int = 64,
    width: int = 64,
) -> list[float]:
    """Per layer, the fraction of self-attention mass that falls in the nearest `nearest` share of key
    blocks (blocks of `block_size` tokens in sequence order, distance between block centres on the
    frames x rows x columns token grid). One dense cond forward on data sample `seed` noised to `sigma`;
    uniform attention scores about `nearest`."""
    sample = make_sample(seed, num_frames, height, width)
    g = torch.Generator().manual_seed(seed)
    x0 = sample.video.transpose(0, 1).unsqueeze(0)  # [1, 3, F, H, W]
    noisy = (1 - sigma) * x0 + sigma * torch.randn(x0.shape, generator=g)
    transformer = pipe.transformer
    device, dtype = transformer.device, transformer.dtype
    context = pipe.text_encoder.encode([sample.caption]).to(dtype)
    saved = transformer.attn_processors
    transformer.set_attn_processor(WanAttnProcessor())  # measure the dense model, whatever is installed
    capture = _CaptureSelfAttention()
    try:
        with capture:
            transformer(
                transformer_inputs(transformer, noisy.to(device)),
                torch.tensor([sigma * 1000], device=device),
                context,
            )
    finally:
        transformer.set_attn_processor(saved)
    _, p_h, p_w = transformer.config.patch_size
    centres = _block_centres((num_frames, height // p_h, width // p_w), block_size)
    return [_local_mass(q, k, centres, block_size, nearest) for q, k in capture.qk]
