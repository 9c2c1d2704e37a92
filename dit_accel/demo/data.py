"""Synthetic captioned videos: one coloured shape that moves, bounces, grows or changes colour over a
grey textured background. Everything is drawn from a `torch.Generator`, so a seed fixes a video."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Saturated colours with well separated hues (degrees), so `describe_video` can tell them apart.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.92, 0.12, 0.10),
    "yellow": (0.95, 0.85, 0.10),
    "green": (0.12, 0.80, 0.15),
    "cyan": (0.10, 0.85, 0.90),
    "blue": (0.15, 0.30, 0.95),
    "purple": (0.70, 0.15, 0.90),
}
# "changing colour" goes from the caption's colour to this one (a fixed map keeps captions unambiguous).
COLOUR_CHANGE: dict[str, str] = {
    "red": "blue",
    "yellow": "purple",
    "green": "red",
    "cyan": "yellow",
    "blue": "green",
    "purple": "cyan",
}
SHAPES = ("circle", "square", "triangle", "diamond")
MOTIONS = (
    "moving left",
    "moving right",
    "moving up",
    "moving down",
    "bouncing",
    "growing",
    "changing colour",
)
BACKGROUNDS = ("plain", "striped", "checkered")

# Geometry as fractions of the frame's shorter side.
RADIUS = 0.20
TRAVEL = 0.40  # distance covered by a moving object over the whole clip
# The start point lies within this distance of the middle of its allowed range: a 1 M-parameter model
# trained for an hour on a CPU learns a caption -> video map with little position spread far faster than
# one where the object may start anywhere.
JITTER = 0.08
BOUNCE = 0.30  # height of a bounce
GROWTH = (0.55, 1.45)  # radius scale at the first and last frame
# Background texture: grey levels in [0, 1]; each level spans this fraction of the frame's shorter side
# (8 pixels of a 64-pixel frame, two patches), so the texture means the same at any frame size.
GREY_LOW, GREY_HIGH, LEVEL_WIDTH = 0.25, 0.45, 1 / 8


@dataclass(frozen=True)
class VideoSpec:
    """The attributes of one video; `caption` is the text the model is trained on."""

    colour: str
    shape: str
    motion: str
    background: str

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.shape} {self.motion} on a {self.background} background"


@dataclass(frozen=True)
class Sample:
    """video: [F, 3, H, W] in [-1, 1]; coverage: [F, H, W] in [0, 1], the object's share of each pixel."""

    video: torch.Tensor
    coverage: torch.Tensor
    caption: str
    spec: VideoSpec


def vocabulary() -> list[str]:
    """Every word a caption can use, in a fixed order."""
    words = ["a", "on", "background", *COLOURS, *SHAPES, *BACKGROUNDS]
    for motion in MOTIONS:
        words += motion.split()
    return list(dict.fromkeys(words))


def _pick(options: tuple[str, ...] | list[str], g: torch.Generator) -> str:
    return options[int(torch.randint(len(options), (1,), generator=g))]


def _near_middle(lo: float, hi: float, spread: float, g: torch.Generator) -> float:
    """Uniform within `spread` of the middle of [lo, hi] (clipped to it)."""
    middle = (lo + hi) / 2
    lo, hi = max(lo, middle - spread), min(hi, middle + spread)
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def sample_spec(g: torch.Generator, exclude: frozenset[VideoSpec] = frozenset()) -> VideoSpec:
    """A uniformly drawn caption combination, drawn again while it is in `exclude`."""
    while True:
        spec = VideoSpec(
            colour=_pick(list(COLOURS), g),
            shape=_pick(SHAPES, g),
            motion=_pick(MOTIONS, g),
            background=_pick(BACKGROUNDS, g),
        )
        if spec not in exclude:
            return spec


def texture_levels(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Level index (0 low, 1 high) of each row [H, 1] and column [1, W] of the striped and checkered
    textures: rows and columns alternate every LEVEL_WIDTH of the frame's shorter side, low first."""
    level = LEVEL_WIDTH * min(height, width)
    rows = (torch.arange(height).view(-1, 1) // level).long() % 2
    cols = (torch.arange(width).view(1, -1) // level).long() % 2
    return rows, cols


def background_grey(kind: str, height: int, width: int, vertical: bool = False) -> torch.Tensor:
    """[H, W] grey level in [0, 1] of background `kind`; striped ones vary along the rows, or along the
    columns when `vertical`."""
    rows, cols = texture_levels(height, width)
    if kind == "plain":
        index = torch.full((height, width), 0.5)
    elif kind == "striped":
        index = (cols if vertical else rows).expand(height, width).float()
    elif kind == "checkered":
        index = ((rows + cols) % 2).float()
    else:
        raise ValueError(f"unknown background {kind!r}; expected one of {BACKGROUNDS}")
    return GREY_LOW + (GREY_HIGH - GREY_LOW) * index


def _background(kind: str, height: int, width: int, g: torch.Generator) -> torch.Tensor:
    """[3, H, W] grey texture in [0, 1]. Grey keeps the object's colour mask clean; fixed levels and a
    period of four patches keep the texture cheap to learn, so the small model spends itself on the object.
    Stripes run either way (drawn from `g`, not named by the caption)."""
    vertical = kind == "striped" and float(torch.rand((), generator=g)) >= 0.5
    return background_grey(kind, height, width, vertical).expand(3, height, width).float()


def _shape_mask(shape: str, dx: torch.Tensor, dy: torch.Tensor, radius: float) -> torch.Tensor:
    """Coverage in [0, 1] of `shape` centred at the origin; dx, dy: pixel offsets [H, W].
    Edges are anti-aliased over one pixel."""
    if shape == "circle":
        dist = torch.sqrt(dx**2 + dy**2) - radius
    elif shape == "square":
        dist = torch.maximum(dx.abs(), dy.abs()) - 0.85 * radius
    elif shape == "diamond":
        dist = (dx.abs() + dy.abs()) / math.sqrt(2) - 0.8 * radius
    elif shape == "triangle":
        # Upward triangle: the base and the two sloped sides, as signed distances.
        base = dy - 0.75 * radius
        side = (dx.abs() * 0.866 - dy * 0.5) - 0.5 * radius
        dist = torch.maximum(base, side)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return (0.5 - dist).clamp(0.0, 1.0)


def _trajectory(spec: VideoSpec, frames: int, size: float, height: int, width: int, g: torch.Generator):
    """Per-frame centre (x, y), radius (pixels) and colour [F, 3] of the object."""
    s = torch.linspace(0.0, 1.0, frames) if frames > 1 else torch.zeros(1)
    radius = torch.full((frames,), RADIUS * size)
    travel, margin = TRAVEL * size, RADIUS * size + 1
    dx = {"moving left": -travel, "moving right": travel}.get(spec.motion, 0.0)
    dy = {"moving up": -travel, "moving down": travel}.get(spec.motion, 0.0)
    if spec.motion == "growing":
        radius = RADIUS * size * (GROWTH[0] + (GROWTH[1] - GROWTH[0]) * s)
        margin = RADIUS * size * GROWTH[1] + 1
    top = margin + (BOUNCE * size if spec.motion == "bouncing" else 0.0)
    spread = JITTER * size
    x0 = _near_middle(margin - min(dx, 0.0), width - margin - max(dx, 0.0), spread, g)
    y0 = _near_middle(top - min(dy, 0.0), height - margin - max(dy, 0.0), spread, g)
    xs = x0 + dx * s
    ys = y0 + dy * s
    if spec.motion == "bouncing":
        ys = ys - BOUNCE * size * torch.sin(math.pi * s)
    start = torch.tensor(COLOURS[spec.colour])
    end = torch.tensor(COLOURS[COLOUR_CHANGE[spec.colour]]) if spec.motion == "changing colour" else start
    colours = start + (end - start) * s[:, None]
    return xs, ys, radius, colours


def render(
    spec: VideoSpec, frames: int, height: int, width: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The video of `spec` [F, 3, H, W] in [-1, 1] and the object's coverage [F, H, W] in [0, 1].
    The motion spans the whole clip, whatever `frames`."""
    background = _background(spec.background, height, width, g)
    xs, ys, radius, colours = _trajectory(spec, frames, float(min(height, width)), height, width, g)
    py = torch.arange(height, dtype=torch.float32).view(-1, 1) + 0.5
    px = torch.arange(width, dtype=torch.float32).view(1, -1) + 0.5
    cover = torch.stack(
        [_shape_mask(spec.shape, px - xs[f], py - ys[f], float(radius[f])) for f in range(frames)]
    )
    video = background * (1 - cover[:, None]) + colours[:, :, None, None] * cover[:, None]
    return video * 2 - 1, cover


def make_sample(seed: int, frames: int = 9, height: int = 64, width: int = 64) -> Sample:
    """One random captioned video, fixed by `seed`."""
    g = torch.Generator().manual_seed(seed)
    spec = sample_spec(g)
    video, coverage = render(spec, frames, height, width, g)
    return Sample(video, coverage, spec.caption, spec)


def make_batch(
    batch_size: int,
    g: torch.Generator,
    frames: int = 9,
    height: int = 64,
    width: int = 64,
    exclude: frozenset[VideoSpec] = frozenset(),
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(videos [B, 3, F, H, W] in [-1, 1], object coverage [B, 1, F, H, W] in [0, 1], captions), none
    of whose caption combinations is in `exclude`."""
    videos, covers, captions = [], [], []
    for _ in range(batch_size):
        spec = sample_spec(g, exclude)
        video, cover = render(spec, frames, height, width, g)
        videos.append(video.transpose(0, 1))
        covers.append(cover.unsqueeze(0))
        captions.append(spec.caption)
    return torch.stack(videos), torch.stack(covers), captions
