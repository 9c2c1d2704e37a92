"""What runs around the accelerated attention in `dit-accel generate`: offload, VAE tiling, torch.compile."""

from __future__ import annotations

from typing import Any

import torch

OFFLOADS = ("model", "group", "sequential")


def transformers_of(pipe: Any) -> list[torch.nn.Module]:
    """The pipeline's denoisers (`transformer`, and Wan 2.2's `transformer_2`)."""
    names = ("transformer", "transformer_2")
    return [module for name in names if isinstance(module := getattr(pipe, name, None), torch.nn.Module)]


def offload(pipe: Any, kind: str, device: str) -> None:
    """Keep weights on the CPU and move them to `device` when used: whole models ("model"), one transformer
    block at a time ("group", diffusers group offload; the other components go to `device`) or each
    layer ("sequential")."""
    if kind not in OFFLOADS:
        raise ValueError(f"offload must be one of {', '.join(OFFLOADS)}, got {kind!r}")
    target = torch.device(device)
    if kind == "model":
        pipe.enable_model_cpu_offload(device=target)
    elif kind == "sequential":
        pipe.enable_sequential_cpu_offload(device=target)
    else:
        denoisers = transformers_of(pipe)
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module) and component not in denoisers:
                component.to(target)
        for module in denoisers:
            module.enable_group_offload(
                onload_device=target,
                offload_device=torch.device("cpu"),
                offload_type="block_level",
                num_blocks_per_group=1,
            )


def compile_transformers(pipe: Any, fullgraph: bool = True) -> None:
    """torch.compile each denoiser: its repeated blocks when diffusers knows them (one graph serves every
    block), else the whole model. fullgraph holds since dit_accel's attention is one opaque op; pass False
    under context parallelism, whose split hook (diffusers 0.42) Dynamo cannot trace."""
    for module in transformers_of(pipe):
        if getattr(module, "_repeated_blocks", None):
            module.compile_repeated_blocks(fullgraph=fullgraph)
        else:
            module.compile(fullgraph=fullgraph)
