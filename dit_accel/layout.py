"""BlockLayout: which key blocks each query block attends to, stored CSR-style."""

from __future__ import annotations

from dataclasses import InitVar, dataclass

import torch

from dit_accel.kernels.blocks import block_mask_csr, block_sizes, csr_block_mask, num_blocks

__all__ = ["BlockLayout", "num_blocks"]


def _check_power_of_two(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1 or value & (value - 1):
        raise ValueError(f"{name} must be a positive power of two, got {value!r}")


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class KeyBlockLists:
    """What every layout derives from its CSR key-block lists `kv_counts` `[Bl, Hl, nq]` and
    `kv_indices` `[Bl, Hl, nq, max_k]` (BlockLayout, VarBlockLayout)."""

    kv_counts: torch.Tensor
    kv_indices: torch.Tensor

    @property
    def batch(self) -> int:
        return self.kv_counts.shape[0]

    @property
    def heads(self) -> int:
        return self.kv_counts.shape[1]

    @property
    def max_kv_blocks(self) -> int:
        return self.kv_indices.shape[3]

    @property
    def device(self) -> torch.device:
        return self.kv_counts.device


@dataclass(frozen=True, repr=False)
class BlockLayout(KeyBlockLists):
    """Block-sparse attention layout, one key-block list per (batch|1, head, query block).

    kv_counts:  int32 [Bl, H, nq]        how many key blocks each query block reads
    kv_indices: int32 [Bl, H, nq, max_k] the key-block ids, ascending; entries past the count are 0
    Bl is the batch size or 1 (broadcast over the batch).
    `trusted=True` skips the value range checks (a host sync each) for layouts built by the
    classmethods, whose counts and indices are valid by construction.
    """

    kv_counts: torch.Tensor
    kv_indices: torch.Tensor
    q_len: int
    kv_len: int
    block_q: int
    block_k: int
    trusted: InitVar[bool] = False

    def __post_init__(self, trusted: bool) -> None:
        _check_positive("q_len", self.q_len)
        _check_positive("kv_len", self.kv_len)
        _check_power_of_two("block_q", self.block_q)
        _check_power_of_two("block_k", self.block_k)
        if self.kv_counts.dtype != torch.int32 or self.kv_indices.dtype != torch.int32:
            raise ValueError(
                f"kv_counts and kv_indices must be int32, got {self.kv_counts.dtype} and "
                f"{self.kv_indices.dtype}"
            )
        if self.kv_counts.dim() != 3 or self.kv_indices.dim() != 4:
            raise ValueError(
                "kv_counts must be [Bl, H, nq] and kv_indices [Bl, H, nq, max_k], got shapes "
                f"{tuple(self.kv_counts.shape)} and {tuple(self.kv_indices.shape)}"
            )
        if self.kv_indices.shape[:3] != self.kv_counts.shape:
            raise ValueError(
                f"kv_indices leading shape {tuple(self.kv_indices.shape[:3])} must equal kv_counts "
                f"shape {tuple(self.kv_counts.shape)}"
            )
        if self.kv_counts.shape[2] != self.num_q_blocks:
            raise ValueError(
                f"kv_counts has {self.kv_counts.shape[2]} query blocks but q_len={self.q_len} with "
                f"block_q={self.block_q} needs {self.num_q_blocks}"
            )
        if trusted:
            return
        if self.kv_counts.numel() and bool(
            (self.kv_counts < 0).any() | (self.kv_counts > self.max_kv_blocks).any()
        ):
            raise ValueError(f"kv_counts must lie in [0, {self.max_kv_blocks}] (the width of kv_indices)")
        if self.kv_indices.numel() and bool(
            (self.kv_indices < 0).any() | (self.kv_indices >= self.num_kv_blocks).any()
        ):
            raise ValueError(
                f"kv_indices must lie in [0, {self.num_kv_blocks}) for kv_len={self.kv_len} and "
                f"block_k={self.block_k}"
            )

    @property
    def num_q_blocks(self) -> int:
        return num_blocks(self.q_len, self.block_q)

    @property
    def num_kv_blocks(self) -> int:
        return num_blocks(self.kv_len, self.block_k)

    @classmethod
    def from_mask(
        cls, block_mask: torch.Tensor, q_len: int, kv_len: int, block_q: int, block_k: int
    ) -> BlockLayout:
        """Build from a bool block mask `[B|1, H, nq, nk]` (True = compute this block pair)."""
        if not isinstance(block_mask, torch.Tensor) or block_mask.dtype != torch.bool:
            raise ValueError("block_mask must be a bool tensor of shape [B|1, H, nq, nk]")
        if block_mask.dim() != 4:
            raise ValueError(
                f"block_mask must have 4 dims [B|1, H, nq, nk], got shape {tuple(block_mask.shape)}"
            )
        _check_positive("q_len", q_len)
        _check_positive("kv_len", kv_len)
        _check_power_of_two("block_q", block_q)
        _check_power_of_two("block_k", block_k)
        nq, nk = num_blocks(q_len, block_q), num_blocks(kv_len, block_k)
        if block_mask.shape[2:] != (nq, nk):
            raise ValueError(
                f"block_mask has block grid {tuple(block_mask.shape[2:])} but q_len={q_len}, "
                f"kv_len={kv_len}, block_q={block_q}, block_k={block_k} need ({nq}, {nk})"
            )
        counts, indices = block_mask_csr(block_mask)
        return cls(counts, indices, q_len, kv_len, block_q, block_k, trusted=True)

    @classmethod
    def dense(
        cls,
        q_len: int,
        kv_len: int,
        block_q: int = 128,
        block_k: int = 128,
        heads: int = 1,
        batch: int = 1,
        device: torch.device | str | None = None,
    ) -> BlockLayout:
        """Every query block attends to every key block."""
        _check_positive("heads", heads)
        _check_positive("batch", batch)
        _check_power_of_two("block_q", block_q)
        _check_power_of_two("block_k", block_k)
        nq, nk = num_blocks(q_len, block_q), num_blocks(kv_len, block_k)
        mask = torch.ones(batch, heads, nq, nk, dtype=torch.bool, device=device)
        return cls.from_mask(mask, q_len, kv_len, block_q, block_k)

    def to_mask(self) -> torch.Tensor:
        """Bool block mask `[Bl, H, nq, nk]`."""
        return csr_block_mask(self.kv_counts, self.kv_indices, self.num_kv_blocks)

    def to_token_mask(self) -> torch.Tensor:
        """Bool token mask `[Bl, H, q_len, kv_len]` (memory q_len x kv_len: for tests and small inputs)."""
        mask = self.to_mask()
        mask = mask.repeat_interleave(self.block_q, dim=2)[:, :, : self.q_len]
        return mask.repeat_interleave(self.block_k, dim=3)[..., : self.kv_len]

    def _pair_counts(self) -> torch.Tensor:
        """Token pairs computed, float64 `[Bl, H]`; tail blocks count by their real size."""
        q_sizes = block_sizes(self.q_len, self.block_q, torch.float64, self.device)
        k_sizes = block_sizes(self.kv_len, self.block_k, torch.float64, self.device)
        keys_per_row = self.to_mask().to(torch.float64) @ k_sizes  # [Bl, H, nq]
        return keys_per_row @ q_sizes

    def head_density(self) -> torch.Tensor:
        """Fraction of the q_len x kv_len token pairs computed, float64 `[Bl, H]`."""
        return self._pair_counts() / (self.q_len * self.kv_len)

    def density(self) -> float:
        """Fraction of the q_len x kv_len token pairs computed, averaged over batch and heads."""
        return float(self.head_density().mean())

    def to(self, device: torch.device | str) -> BlockLayout:
        return BlockLayout(
            self.kv_counts.to(device),
            self.kv_indices.to(device),
            self.q_len,
            self.kv_len,
            self.block_q,
            self.block_k,
            trusted=True,
        )

    def __repr__(self) -> str:
        return (
            f"BlockLayout(batch={self.batch}, heads={self.heads}, q_len={self.q_len}, "
            f"kv_len={self.kv_len}, block=({self.block_q}, {self.block_k}), "
            f"blocks=({self.num_q_blocks}x{self.num_kv_blocks}), max_kv_blocks={self.max_kv_blocks}, "
            f"density={self.density():.3f}, device={self.device})"
        )
