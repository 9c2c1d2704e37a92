"""Read a video back into words: the object's colour (hue of the saturated pixels), motion (centroid
track, area and colour change across frames), shape (how its mask fills its bounding box, and where its
mass sits in it) and background (the grey of the other pixels against the data's textures). Works on
data and on generated videos."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from dit_accel.demo.data import COLOURS, background_grey

# Thresholds, as fractions of the frame: the data moves 0.40 and bounces 0.30 (see data.py).
_MIN_SATURATION = 0.3
_MIN_PIXELS = 0.004
_MOVE = 0.12
_BOUNCE = 0.10
_GROW = 2.0
# Shape: a square fills its bounding box (1.0), a circle pi/4, a diamond and a triangle half of it; the
# upward triangle's mass sits 2/3 of the way down its box, the diamond's in the middle.
_SQUARE_FILL, _ROUND_FILL, _TRIANGLE_DROP = 0.9, 0.65, 0.58
_MIN_SHAPE_PIXELS = 30  # smaller masks (a few pixels wide) say little about corners
# Background: a texture's grey deviates 0.1 from its mean; plain ones much less. A texture must match
# one of the data's patterns (period and phase) with this correlation, else it is "other".
_PLAIN_STD, _MIN_CORRELATION = 0.04, 0.6


def _hue(rgb: np.ndarray) -> float:
    """Hue in degrees of one RGB colour [3]."""
    r, g, b = rgb
    return float(np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2 * r - g - b)) % 360)


_HUES = {name: _hue(np.array(rgb)) for name, rgb in COLOURS.items()}


def colour_name(rgb: np.ndarray) -> str:
    """The palette colour whose hue is nearest to `rgb` [3]."""
    hue = _hue(rgb)
    return min(_HUES, key=lambda name: min(abs(hue - _HUES[name]), 360 - abs(hue - _HUES[name])))


def _as_frames(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().float().cpu().numpy()
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3] in [0, 1], got shape {frames.shape}")
    return frames


def _object_masks(frames: np.ndarray) -> np.ndarray:
    """[F, H, W] bool: per frame, the largest connected blob of saturated pixels."""
    saturation = frames.max(-1) - frames.min(-1)
    masks = saturation > _MIN_SATURATION
    for f, mask in enumerate(masks):
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = np.bincount(labels.ravel())[1:]
            masks[f] = labels == 1 + int(sizes.argmax())
    return masks


def shape_name(mask: np.ndarray) -> str:
    """circle, square, triangle or diamond for one object mask [H, W] (bool), or "none" when too small."""
    if mask.sum() < _MIN_SHAPE_PIXELS:
        return "none"
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    top, height = rows[0], rows[-1] - rows[0] + 1
    fill = mask.sum() / (height * (cols[-1] - cols[0] + 1))
    if fill > _SQUARE_FILL:
        return "square"
    if fill > _ROUND_FILL:
        return "circle"
    drop = ((np.nonzero(mask)[0] + 0.5).mean() - top) / height
    return "triangle" if drop > _TRIANGLE_DROP else "diamond"


def background_name(frames: np.ndarray, masks: np.ndarray) -> str:
    """plain, striped, checkered or "other" from the grey of the pixels away from the object:
    frames [F, H, W, 3], masks [F, H, W] bool."""
    _, height, width, _ = frames.shape
    away = ~ndimage.binary_dilation(masks, structure=np.ones((1, 5, 5), dtype=bool))
    grey = np.where(away, frames.mean(-1), np.nan)
    seen = away.any(0)
    if seen.mean() < 0.5:
        return "other"
    background = np.nanmedian(grey[:, seen], axis=0)  # [pixels seen]
    deviation = background - background.mean()
    if deviation.std() < _PLAIN_STD:
        return "plain"
    best, name = _MIN_CORRELATION, "other"
    for kind, vertical in (("striped", False), ("striped", True), ("checkered", False)):
        pattern = background_grey(kind, height, width, vertical).numpy()[seen]
        pattern = pattern - pattern.mean()
        correlation = float((deviation * pattern).sum() / np.sqrt((deviation**2).sum() * (pattern**2).sum()))
        if correlation > best:
            best, name = correlation, kind
    return name


def describe_video(frames: np.ndarray | torch.Tensor) -> dict[str, str]:
    """{"colour", "shape", "motion", "background"} of the video `frames` [F, H, W, 3] (values in [0, 1]).

    Motion is one of data.MOTIONS, or "still"; background one of data.BACKGROUNDS or "other"; every
    attribute is "none" when no object is found."""
    frames = _as_frames(frames)
    num_frames, height, width, _ = frames.shape
    masks = _object_masks(frames)  # [F, H, W]
    areas = masks.reshape(num_frames, -1).mean(-1)
    found = areas > _MIN_PIXELS
    if found.sum() < 2:
        return dict.fromkeys(("colour", "shape", "motion", "background"), "none")
    ys, xs = np.mgrid[0:height, 0:width]
    idx = np.flatnonzero(found)
    centres = np.array([[xs[masks[f]].mean() / width, ys[masks[f]].mean() / height] for f in idx])
    colours = [colour_name(frames[f][masks[f]].mean(0)) for f in idx]
    first, last = colours[0], colours[-1]
    start, end = centres[0], centres[-1]
    shift = end - start
    if first != last and colours[len(colours) // 2 :].count(last) > len(colours) // 4:
        motion = "changing colour"
    elif areas[idx[-1]] > _GROW * areas[idx[0]]:
        motion = "growing"
    elif np.abs(shift).max() > _MOVE:
        horizontal = abs(shift[0]) >= abs(shift[1])
        if horizontal:
            motion = "moving right" if shift[0] > 0 else "moving left"
        else:
            motion = "moving down" if shift[1] > 0 else "moving up"
    elif (start[1] - centres[:, 1]).max() > _BOUNCE:
        motion = "bouncing"
    else:
        motion = "still"
    votes = [shape_name(masks[f]) for f in idx]
    votes = [v for v in votes if v != "none"] or ["none"]
    shape = max(dict.fromkeys(votes), key=votes.count)
    return {"colour": first, "shape": shape, "motion": motion, "background": background_name(frames, masks)}


def video_to_frames(video: torch.Tensor) -> torch.Tensor:
    """Data layout [F, 3, H, W] in [-1, 1] -> pipeline layout [F, H, W, 3] in [0, 1]."""
    return ((video + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
