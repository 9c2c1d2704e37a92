"""VarBlockLayout: BlockLayout's sibling for blocks of per-block sizes (e.g. one block per k-means
cluster), given by offsets per (batch|1, head|1)."""

from __future__ import annotations

from dataclasses import InitVar, dataclass

import torch

from dit_accel.kernels.block_sparse.naive import expand_var_block_mask
from dit_accel.kernels.blocks import block_mask_csr, csr_block_mask
from dit_accel.layout import BlockLayout, KeyBlockLists


def offsets_from_sizes(sizes: torch.Tensor) -> torch.Tensor:
    """Block offsets int32 `[..., n + 1]` (0 first) from non-negative block sizes `[..., n]`."""
    if not isinstance(sizes, torch.Tensor) or sizes.dtype.is_floating_point or sizes.dtype == torch.bool:
        raise ValueError("block sizes must be an integer tensor [..., n]")
    if sizes.numel() and bool((sizes < 0).any()):
        raise ValueError("block sizes must be >= 0")
    zero = torch.zeros(*sizes.shape[:-1], 1, dtype=torch.int32, device=sizes.device)
    return torch.cat((zero, sizes.cumsum(-1).to(torch.int32)), -1)


def _check_offsets(name: str, offsets: torch.Tensor, length: int) -> None:
    if bool(offsets[..., 0].ne(0).any()) or bool(offsets[..., -1].ne(length).any()):
        raise ValueError(f"{name} must start at 0 and end at the same length in every (batch, head)")
    if bool((offsets[..., 1:] < offsets[..., :-1]).any()):
        raise ValueError(f"{name} must be non-decreasing (block sizes >= 0)")


@dataclass(frozen=True, repr=False)
class VarBlockLayout(KeyBlockLists):
    """Block-sparse attention layout over blocks of per-block sizes.

    kv_counts:  int32 [Bl, Hl, nq]        how many key blocks each query block reads
    kv_indices: int32 [Bl, Hl, nq, max_k] the key-block ids, ascending; entries past the count are 0
    q_offsets:  int32 [Bl, Hl, nq + 1]    query block i holds tokens q_offsets[i] .. q_offsets[i+1]-1
    k_offsets:  int32 [Bl, Hl, nk + 1]    the same for key blocks
    Bl is the batch size or 1, Hl the head count or 1 (broadcast). Blocks may be empty or longer
    than any kernel tile. `trusted=True` skips the value checks (a host sync each).
    """

    kv_counts: torch.Tensor
    kv_indices: torch.Tensor
    q_offsets: torch.Tensor
    k_offsets: torch.Tensor
    trusted: InitVar[bool] = False

    def __post_init__(self, trusted: bool) -> None:
        tensors = (self.kv_counts, self.kv_indices, self.q_offsets, self.k_offsets)
        if any(t.dtype != torch.int32 for t in tensors):
            raise ValueError(
                "kv_counts, kv_indices, q_offsets and k_offsets must be int32, got "
                + ", ".join(str(t.dtype) for t in tensors)
            )
        if [t.dim() for t in tensors] != [3, 4, 3, 3]:
            raise ValueError(
                "kv_counts must be [Bl, Hl, nq], kv_indices [Bl, Hl, nq, max_k], q_offsets "
                "[Bl, Hl, nq + 1], k_offsets [Bl, Hl, nk + 1]; got shapes "
                + ", ".join(str(tuple(t.shape)) for t in tensors)
            )
        lead = self.kv_counts.shape[:2]
        if self.kv_indices.shape[:3] != self.kv_counts.shape or any(
            o.shape[:2] != lead for o in (self.q_offsets, self.k_offsets)
        ):
            raise ValueError(
                f"kv_indices, q_offsets and k_offsets must share kv_counts' leading shape {tuple(lead)} "
                f"(and its nq={self.kv_counts.shape[2]} query blocks)"
            )
        if self.q_offsets.shape[2] != self.kv_counts.shape[2] + 1:
            raise ValueError(
                f"q_offsets has {self.q_offsets.shape[2] - 1} query blocks but kv_counts "
                f"{self.kv_counts.shape[2]}"
            )
        if self.q_offsets.shape[2] < 2 or self.k_offsets.shape[2] < 2:
            raise ValueError("q_offsets and k_offsets need at least one block (n + 1 >= 2 entries)")
        if trusted:
            return
        _check_offsets("q_offsets", self.q_offsets, self.q_len)
        _check_offsets("k_offsets", self.k_offsets, self.kv_len)
        if self.q_len < 1 or self.kv_len < 1:
            raise ValueError(f"q_len and kv_len must be >= 1, got {self.q_len} and {self.kv_len}")
        if bool((self.kv_counts < 0).any() | (self.kv_counts > self.max_kv_blocks).any()):
            raise ValueError(f"kv_counts must lie in [0, {self.max_kv_blocks}] (the width of kv_indices)")
        if bool((self.kv_indices < 0).any() | (self.kv_indices >= self.num_kv_blocks).any()):
            raise ValueError(f"kv_indices must lie in [0, {self.num_kv_blocks}) (the key blocks)")

    @property
    def q_len(self) -> int:
        return int(self.q_offsets[0, 0, -1])

    @property
    def kv_len(self) -> int:
        return int(self.k_offsets[0, 0, -1])

    @property
    def num_q_blocks(self) -> int:
        return self.q_offsets.shape[2] - 1

    @property
    def num_kv_blocks(self) -> int:
        return self.k_offsets.shape[2] - 1

    @property
    def q_sizes(self) -> torch.Tensor:
        """Tokens per query block, int32 `[Bl, Hl, nq]`."""
        return self.q_offsets.diff(dim=-1)

    @property
    def k_sizes(self) -> torch.Tensor:
        """Tokens per key block, int32 `[Bl, Hl, nk]`."""
        return self.k_offsets.diff(dim=-1)

    @classmethod
    def from_mask(
        cls, block_mask: torch.Tensor, q_offsets: torch.Tensor, k_offsets: torch.Tensor
    ) -> VarBlockLayout:
        """Build from a bool block mask `[B|1, H|1, nq, nk]` (True = compute this block pair) and
        block offsets int `[B|1, H|1, nq + 1]` / `[B|1, H|1, nk + 1]` (or 1-D, shared by all)."""
        if not isinstance(block_mask, torch.Tensor) or block_mask.dtype != torch.bool:
            raise ValueError("block_mask must be a bool tensor of shape [B|1, H|1, nq, nk]")
        if block_mask.dim() != 4:
            raise ValueError(f"block_mask must have 4 dims [B|1, H|1, nq, nk], got {tuple(block_mask.shape)}")
        offsets = []
        for name, o in (("q_offsets", q_offsets), ("k_offsets", k_offsets)):
            if not isinstance(o, torch.Tensor) or o.dtype.is_floating_point or o.dim() not in (1, 3):
                raise ValueError(f"{name} must be an integer tensor [B|1, H|1, n + 1] or [n + 1]")
            offsets.append(o.view(1, 1, -1) if o.dim() == 1 else o)
        q_off, k_off = offsets
        nq, nk = block_mask.shape[2:]
        if q_off.shape[-1] != nq + 1 or k_off.shape[-1] != nk + 1:
            raise ValueError(
                f"block_mask has block grid ({nq}, {nk}) but the offsets give "
                f"({q_off.shape[-1] - 1}, {k_off.shape[-1] - 1}) blocks"
            )
        try:
            lead = torch.broadcast_shapes(block_mask.shape[:2], q_off.shape[:2], k_off.shape[:2])
        except RuntimeError as err:
            raise ValueError(
                f"block_mask {tuple(block_mask.shape[:2])}, q_offsets {tuple(q_off.shape[:2])} and "
                f"k_offsets {tuple(k_off.shape[:2])} must broadcast over (batch, heads)"
            ) from err
        q_off = q_off.to(torch.int32).expand(*lead, nq + 1).contiguous()
        k_off = k_off.to(torch.int32).expand(*lead, nk + 1).contiguous()
        _check_offsets("q_offsets", q_off, int(q_off[0, 0, -1]))
        _check_offsets("k_offsets", k_off, int(k_off[0, 0, -1]))
        if int(q_off[0, 0, -1]) < 1 or int(k_off[0, 0, -1]) < 1:
            raise ValueError("q_offsets and k_offsets must cover at least one token")
        counts, indices = block_mask_csr(block_mask.expand(*lead, nq, nk))
        return cls(counts, indices, q_off, k_off, trusted=True)

    @classmethod
    def from_sizes(
        cls, block_mask: torch.Tensor, q_sizes: torch.Tensor, k_sizes: torch.Tensor
    ) -> VarBlockLayout:
        """As `from_mask`, with block sizes int `[B|1, H|1, n]` (or 1-D) instead of offsets."""
        return cls.from_mask(block_mask, offsets_from_sizes(q_sizes), offsets_from_sizes(k_sizes))

    @classmethod
    def dense(cls, q_offsets: torch.Tensor, k_offsets: torch.Tensor) -> VarBlockLayout:
        """Every query block attends to every key block."""
        lead = q_offsets.shape[:-1] if q_offsets.dim() == 3 else (1, 1)
        mask = torch.ones(*lead, q_offsets.shape[-1] - 1, k_offsets.shape[-1] - 1, dtype=torch.bool)
        return cls.from_mask(mask.to(q_offsets.device), q_offsets, k_offsets)

    @classmethod
    def from_block_layout(cls, layout: BlockLayout) -> VarBlockLayout:
        """The same layout with its fixed block sizes written as offsets (the tail block partial)."""

        def offsets(length: int, block: int, n: int) -> torch.Tensor:
            edges = torch.arange(n + 1, device=layout.device, dtype=torch.int32) * block
            return edges.clamp(max=length).view(1, 1, -1).expand(layout.batch, layout.heads, -1).contiguous()

        return cls(
            layout.kv_counts,
            layout.kv_indices,
            offsets(layout.q_len, layout.block_q, layout.num_q_blocks),
            offsets(layout.kv_len, layout.block_k, layout.num_kv_blocks),
            trusted=True,
        )

    def to_mask(self) -> torch.Tensor:
        """Bool block mask `[Bl, Hl, nq, nk]`."""
        return csr_block_mask(self.kv_counts, self.kv_indices, self.num_kv_blocks)

    def to_token_mask(self) -> torch.Tensor:
        """Bool token mask `[Bl, Hl, q_len, kv_len]` (memory q_len x kv_len: for tests and small inputs)."""
        return expand_var_block_mask(self.kv_counts, self.kv_indices, self.q_offsets, self.k_offsets)

    def head_density(self) -> torch.Tensor:
        """Fraction of the q_len x kv_len token pairs computed, float64 `[Bl, Hl]`."""
        keys_per_row = (self.to_mask().double() @ self.k_sizes.double().unsqueeze(-1)).squeeze(-1)
        pairs = (keys_per_row * self.q_sizes.double()).sum(-1)
        return pairs / (self.q_len * self.kv_len)

    def density(self) -> float:
        """Fraction of the q_len x kv_len token pairs computed, averaged over batch and heads."""
        return float(self.head_density().mean())

    def to(self, device: torch.device | str) -> VarBlockLayout:
        return VarBlockLayout(
            self.kv_counts.to(device),
            self.kv_indices.to(device),
            self.q_offsets.to(device),
            self.k_offsets.to(device),
            trusted=True,
        )

    def __repr__(self) -> str:
        return (
            f"VarBlockLayout(batch={self.batch}, heads={self.heads}, q_len={self.q_len}, "
            f"kv_len={self.kv_len}, blocks=({self.num_q_blocks}x{self.num_kv_blocks}), "
            f"max_kv_blocks={self.max_kv_blocks}, density={self.density():.3f}, device={self.device})"
        )
