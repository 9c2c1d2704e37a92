"""Backend names, the default choice and the input checks shared by the kernel entry points (block-sparse
attention, block mass). Imports no Triton, so the CPU paths never load it."""

from __future__ import annotations

import os

import torch

BACKENDS = ("triton", "torch", "reference")
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def triton_interpreting() -> bool:
    """Whether Triton runs kernels on the CPU interpreter (`TRITON_INTERPRET=1`)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def default_backend(device: torch.device) -> str:
    """`triton` on CUDA devices, `torch` elsewhere."""
    return "triton" if device.type == "cuda" else "torch"


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (or None), got {backend!r}")


def check_tensors(**tensors: torch.Tensor) -> None:
    """Each tensor 4-D `[B, S, H, D]` of a supported dtype; errors name the argument."""
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            raise ValueError(f"{name} must be a 4-D tensor [B, S, H, D]")
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name} dtype must be float16, bfloat16, float32 or float64, got {t.dtype}")


def check_triton_device(backend: str, device: torch.device) -> None:
    if backend == "triton" and device.type != "cuda" and not triton_interpreting():
        raise ValueError(
            "backend='triton' needs CUDA tensors (set TRITON_INTERPRET=1 to run it on the CPU), "
            f"got device {device}"
        )
