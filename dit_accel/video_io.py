"""Writing and reading generated media atomically: a file appears under its final name only when complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dit_accel.atomic import atomic_path


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (any shape) -> uint8 in [0, 255], rounded; uint8 passes through."""
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def write_video(path: str | Path, frames: np.ndarray, fps: int) -> None:
    """Write frames [F, H, W, 3] (uint8, or float in [0, 1]) as H.264 mp4 at `fps`. H and W must be even
    (yuv420p); no resizing happens."""
    import imageio.v2 as imageio

    frames = to_uint8(frames)
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            fps=fps,
            codec="libx264",
            quality=8,
            pixelformat="yuv420p",
            macro_block_size=1,
        )
        try:
            for frame in frames:
                writer.append_data(frame)
        finally:
            writer.close()


def read_video(path: str | Path) -> np.ndarray:
    """The frames of a video file, uint8 [F, H, W, 3]."""
    import imageio.v2 as imageio

    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        return np.stack([frame for frame in reader])
    finally:
        reader.close()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write one image [H, W, 3] (uint8, or float in [0, 1]) as PNG."""
    import PIL.Image

    with atomic_path(path) as tmp:
        PIL.Image.fromarray(to_uint8(image)).save(tmp, format="PNG")
