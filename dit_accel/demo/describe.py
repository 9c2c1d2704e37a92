"""Read a video back into words: the object's colour (hue of the saturated pixels) and its motion
(centroid track, area and colour change across frames). Works on data and on generated videos."""

from __future__ import annotations

import numpy as np
import torch

from dit_accel.demo.data import COLOURS

# Thresholds, as fractions of the frame: the data moves 0.40 and bounces 0.30 (see data.py).
_MIN_SATURATION = 0.3
_MIN_PIXELS = 0.004
_MOVE = 0.12
_BOUNCE = 0.10
_GROW = 2.0


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


def describe_video(frames: np.ndarray | torch.Tensor) -> dict[str, str]:
    """{"colour": ..., "motion": ...} of the object in `frames` [F, H, W, 3] (values in [0, 1]).

    Motion is one of data.MOTIONS, or "still" / "none" (no object found)."""
    frames = _as_frames(frames)
    num_frames, height, width, _ = frames.shape
    saturation = frames.max(-1) - frames.min(-1)
    masks = saturation > _MIN_SATURATION  # [F, H, W]
    areas = masks.reshape(num_frames, -1).mean(-1)
    found = areas > _MIN_PIXELS
    if found.sum() < 2:
        return {"colour": "none", "motion": "none"}
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
    return {"colour": first, "motion": motion}


def video_to_frames(video: torch.Tensor) -> torch.Tensor:
    """Data layout [F, 3, H, W] in [-1, 1] -> pipeline layout [F, H, W, 3] in [0, 1]."""
    return ((video + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)
