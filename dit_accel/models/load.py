"""Load a registered model's pipeline: built offline (tiny), the demo weights, a local folder or the
Hugging Face cache. Never downloads unless asked, so a missing model fails at once instead of hanging."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dit_accel.models.spec import ModelSpec


class ModelNotAvailable(Exception):
    """The weights of a model are not on this machine; the message says where we looked and what to do."""


def _hub_cache(cache_dir: str | Path | None) -> str:
    from huggingface_hub import constants

    return str(cache_dir or constants.HF_HUB_CACHE)


def _load_demo(path: Path | None, device: str, dtype: torch.dtype) -> Any:
    from dit_accel.demo import load_demo_pipeline
    from dit_accel.demo.config import WEIGHTS_ENV

    try:
        return load_demo_pipeline(path, device=device, dtype=dtype)
    except FileNotFoundError as error:
        raise ModelNotAvailable(
            f"model 'demo': {error} Then pass its folder with --model-path DIR or set {WEIGHTS_ENV}."
        ) from None


def _load_pretrained(
    spec: ModelSpec,
    path: Path | None,
    dtype: torch.dtype,
    cache_dir: str | Path | None,
    download: bool,
) -> Any:
    import diffusers

    pipeline_class = getattr(diffusers, spec.pipeline)
    if path is not None:
        if not (path / "model_index.json").is_file():
            raise ModelNotAvailable(
                f"model {spec.name!r}: no diffusers pipeline at {path} ({path / 'model_index.json'} is "
                f"missing); pass --model-path a folder saved with save_pretrained or downloaded with "
                f"`hf download {spec.hub_id} --local-dir DIR`"
            )
        source = str(path)
    else:
        source = spec.hub_id
    try:
        return pipeline_class.from_pretrained(
            source, dtype=dtype, local_files_only=not download, cache_dir=cache_dir
        )
    except (OSError, ValueError) as error:
        where = str(path) if path is not None else f"the Hugging Face cache {_hub_cache(cache_dir)}"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelNotAvailable(
            f"model {spec.name!r} ({spec.hub_id}) is not available: looked in {where} ({reason}). "
            f"Download it with `hf download {spec.hub_id}` (or `huggingface-cli download`), "
            "pass --download to fetch it now, or pass --model-path DIR with a local copy"
        ) from None


def load_pipeline(
    spec: ModelSpec,
    model_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_dir: str | Path | None = None,
    download: bool = False,
) -> Any:
    """The pipeline of `spec` on `device` in `dtype`: built offline (tiny), the demo weights (from
    `model_path`, $DIT_ACCEL_DEMO_WEIGHTS or the package), or the diffusers checkpoint at `model_path` or
    in the Hugging Face cache (`cache_dir`; downloaded only with `download=True`).
    Raises ModelNotAvailable when the weights are not there."""
    path = Path(model_path) if model_path is not None else None
    if spec.build is not None:
        if path is not None:
            raise ModelNotAvailable(
                f"model {spec.name!r} is built from a config; --model-path does not apply"
            )
        pipe = spec.build()  # float32
        if dtype != torch.float32:
            pipe = pipe.to(dtype)
    elif spec.family == "demo":
        pipe = _load_demo(path, str(device), dtype)
    else:
        pipe = _load_pretrained(spec, path, dtype, cache_dir, download)
    if spec.vae_fp32 and getattr(pipe, "vae", None) is not None:
        pipe.vae.to(
            torch.float32
        )  # Wan's VAE loses detail in bf16; its pipeline casts latents to the VAE dtype
    return pipe.to(device)
