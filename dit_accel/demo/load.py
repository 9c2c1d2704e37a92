"""Build a randomly initialised demo pipeline, or load the shipped (or any trained) one."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from dit_accel.demo.config import DemoConfig, default_weights_path
from dit_accel.demo.data import vocabulary
from dit_accel.demo.pipeline import DemoVideoPipeline
from dit_accel.demo.text import DemoTextEncoder
from dit_accel.demo.transformer import DemoWanTransformer

TRAIN_HINT = "python -m dit_accel.demo.train --out runs/demo --export dit_accel/demo/weights"


def build_pipeline(config: DemoConfig | None = None, seed: int = 0) -> DemoVideoPipeline:
    """A fresh, untrained pipeline of `config` (default: the shipped model's size), fixed by `seed`."""
    config = config or DemoConfig()
    torch.manual_seed(seed)
    transformer = DemoWanTransformer(**config.transformer_kwargs())
    text_encoder = DemoTextEncoder(vocabulary(), max_length=config.max_text_length, dim=config.text_dim)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=config.shift)
    return DemoVideoPipeline(transformer=transformer, text_encoder=text_encoder, scheduler=scheduler)


def weights_present(path: str | Path | None = None) -> bool:
    """Whether `path` (default: the shipped weights folder) holds a saved pipeline."""
    return (Path(path) if path is not None else default_weights_path()).joinpath("model_index.json").is_file()


def load_demo_pipeline(
    path: str | Path | None = None, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> DemoVideoPipeline:
    """The trained demo pipeline saved at `path` (default: $DIT_ACCEL_DEMO_WEIGHTS, else
    dit_accel/demo/weights/), on `device` in `dtype`."""
    folder = Path(path) if path is not None else default_weights_path()
    if not weights_present(folder):
        raise FileNotFoundError(
            f"No demo video model at {folder}: {folder / 'model_index.json'} is missing. "
            f"Train one with `{TRAIN_HINT}` (about 20 minutes on 2 CPU cores)."
        )
    # Without mmap the weights land in aligned memory, so a loaded model computes bit-identically to the
    # one that was saved (mmapped safetensors are misaligned and the CPU kernels then round differently).
    pipe = DemoVideoPipeline.from_pretrained(folder, dtype=dtype, disable_mmap=True)
    return pipe.to(device)
