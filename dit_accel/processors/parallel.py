"""Context parallelism for the sparse processor: diffusers' `ContextParallelConfig` and device mesh.

Under `transformer.enable_parallelism(config=ContextParallelConfig(ulysses_degree=U, ring_degree=R))`
every rank's attention call holds one sequence chunk of q/k/v `[B, S / (U R), H, D]` (diffusers'
`_cp_plan` splits the tokens in rank order, ring-major). Ulysses trades chunks for heads with one
all-to-all, so each rank of a Ulysses group holds its ring chunk for H / U heads; with R = 1 that is
the full sequence and the call runs exactly as in one process for those heads. With R > 1 the ring
(`processors/ring.py`) attends the rank's query chunk against all keys and values, sparsely.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from diffusers.models._modeling_parallel import ContextParallelConfig, ParallelConfig

from dit_accel.processors.ring import Ring

# Why a context-parallel call cannot run sparse (it then runs diffusers' own dense parallel attention).
TEXT_IN_SEQUENCE = "text tokens in a context-parallel sequence (each rank holds a chunk of both)"
MASKED = "attention mask under context parallelism"
UNEVEN = "ulysses_anything / ring_anything (uneven chunks)"


def context_parallel(config: ParallelConfig | ContextParallelConfig | None) -> ContextParallelConfig | None:
    """The context-parallel part of a processor's `_parallel_config` (None: not context parallel)."""
    return config.context_parallel_config if isinstance(config, ParallelConfig) else config


def context_parallel_config(transformer: torch.nn.Module) -> ParallelConfig | None:
    """The transformer's `_parallel_config` (set by `enable_parallelism`) when it is context parallel."""
    config = getattr(transformer, "_parallel_config", None)
    return config if config is not None and config.context_parallel_config is not None else None


def share_context_parallel_config(transformer: torch.nn.Module) -> None:
    """Give the transformer's processors its context-parallel config, as `enable_parallelism` does for
    the processors set before it (e.g. the stock ones restored by `handle.remove()`)."""
    config = context_parallel_config(transformer)
    if config is None:
        return
    for processor in transformer.attn_processors.values():
        if hasattr(processor, "_parallel_config"):
            processor._parallel_config = config


def unsupported_layout(
    cp: ContextParallelConfig, text_len: int | None, mask: torch.Tensor | None, key_len: torch.Tensor | None
) -> str | None:
    """Why this context-parallel call must run dense, or None when Ulysses can run it sparse."""
    if cp.ulysses_anything or cp.ring_anything:
        return UNEVEN
    if text_len != 0:
        return TEXT_IN_SEQUENCE
    if mask is not None or key_len is not None:
        return MASKED
    return None


class Ulysses:
    """The all-to-alls of one Ulysses group (diffusers' `_ulysses_mesh`), `degree` ranks."""

    def __init__(self, cp: ContextParallelConfig) -> None:
        self.group = cp._ulysses_mesh.get_group()
        self.degree = cp.ulysses_degree

    def _exchange(self, parts: torch.Tensor) -> torch.Tensor:
        """Part i of `parts [N, ...]` goes to rank i; returns the parts received, in rank order."""
        parts = parts.contiguous()
        received = torch.empty_like(parts)
        dist.all_to_all_single(received, parts, group=self.group)
        return received

    def to_heads(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's chunk for every head `[B, S / N, H, D]` -> the full sequence for its heads
        `[B, S, H / N, D]` (heads in rank order: rank i gets heads i*H/N ... (i+1)*H/N - 1)."""
        batch, chunk, heads, dim = x.shape
        if heads % self.degree:
            raise ValueError(
                f"ulysses_degree={self.degree} must divide the attention heads ({heads}) of every module"
            )
        parts = x.reshape(batch, chunk, self.degree, heads // self.degree, dim).permute(2, 0, 1, 3, 4)
        received = self._exchange(parts)  # [N (sequence chunk), B, S / N, H / N, D]
        return received.permute(1, 0, 2, 3, 4).reshape(batch, self.degree * chunk, heads // self.degree, dim)

    def to_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of `to_heads`: `[B, S, H / N, D]` -> `[B, S / N, H, D]`."""
        batch, seq_len, heads, dim = x.shape
        parts = x.reshape(batch, self.degree, seq_len // self.degree, heads, dim).permute(1, 0, 2, 3, 4)
        received = self._exchange(parts)  # [N (head group), B, S / N, H / N, D]
        chunk = seq_len // self.degree
        return received.permute(1, 2, 0, 3, 4).reshape(batch, chunk, self.degree * heads, dim)


class ContextShards:
    """Ulysses, then ring, as the config asks: `gather` turns this rank's chunk of q/k/v into its queries
    and the full keys/values (for its heads), `scatter` brings the output back to the chunk."""

    def __init__(self, cp: ContextParallelConfig) -> None:
        self.config = cp
        self.ulysses = Ulysses(cp) if cp.ulysses_degree > 1 else None
        self.ring = Ring(cp) if cp.ring_degree > 1 else None

    def gather(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.ulysses is not None:
            q, k, v = self.ulysses.to_heads(q), self.ulysses.to_heads(k), self.ulysses.to_heads(v)
        if self.ring is not None:
            k, v = self.ring.gather(k), self.ring.gather(v)
        return q, k, v

    def scatter(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.ulysses is None else self.ulysses.to_sequence(out)
