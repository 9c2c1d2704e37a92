"""Training checkpoints: a saved pipeline (EMA weights, loadable by `load_demo_pipeline`) plus
`train_state.pt` (raw weights, optimizer, EMA, step), written to a temporary folder then renamed."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline

STATE_FILE = "train_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def save_pipeline_atomically(
    pipe: DiffusionPipeline, dest: Path, state: dict[str, Any] | None = None
) -> None:
    """`pipe.save_pretrained(dest)` (and `state` as train_state.pt) so that `dest` is either the old
    folder or the complete new one, never half written."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp)
    if state is not None:
        torch.save(state, tmp / STATE_FILE)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def checkpoint_dir(out: Path, step: int) -> Path:
    return Path(out) / "checkpoints" / f"step-{step:07d}"


def checkpoints(out: Path) -> list[Path]:
    """Complete checkpoints under `out`, oldest first."""
    root = Path(out) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def save_checkpoint(
    out: Path, step: int, ema_pipe: DiffusionPipeline, state: dict[str, Any], keep: int
) -> Path:
    """Write checkpoint `step` and delete all but the newest `keep`."""
    dest = checkpoint_dir(out, step)
    save_pipeline_atomically(ema_pipe, dest, state)
    for stale in checkpoints(out)[:-keep]:
        shutil.rmtree(stale)
    return dest


def load_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(Path(checkpoint) / STATE_FILE, map_location="cpu", weights_only=True)
