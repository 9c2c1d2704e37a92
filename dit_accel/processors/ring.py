"""Sparse ring attention: this rank's query rows against each key/value shard's listed blocks, partial
outputs merged by their log-sum-exp.

Under `ContextParallelConfig(ring_degree=R)` rank r of the ring holds the r-th chunk of the tokens (in the
natural order). Keys and values are all-gathered, as diffusers' ring attention does
(`rotate_method="allgather"`); the plan is the one-process plan of the full sequence. A plan's layout
refers to its (possibly permuted) token order, where this rank's tokens are spread over some query
blocks: those blocks become this rank's query rows (tokens of other ranks in them are zero rows, dropped
after), and the key blocks are cut into R contiguous shards, one kernel call each.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from dit_accel.attention import block_sparse_attention
from dit_accel.grid import TokenGrid
from dit_accel.kernels.blocks import num_blocks
from dit_accel.layout import BlockLayout
from dit_accel.methods.base import Method, Plan
from dit_accel.patterns.permutation import permute_tokens
from dit_accel.var_layout import VarBlockLayout


@dataclass(frozen=True)
class _Rows:
    """This rank's query rows of one plan.

    source:  long `[Bx, M * block_q, Hx]` local token of each row (`chunk` = a zero row).
    target:  long `[Bx, chunk, Hx]` row of each local token.
    shards:  (first, last key token, layout) per key shard: the layout over the rows and those keys.
    """

    source: torch.Tensor
    target: torch.Tensor
    shards: tuple[tuple[int, int, BlockLayout], ...]


def _token_positions(perm: torch.Tensor | None, seq_len: int, device: torch.device) -> torch.Tensor:
    """Position of each natural token in the plan's order, long `[Bp, S, Hp]`."""
    if perm is None:
        return torch.arange(seq_len, device=device).view(1, seq_len, 1)
    positions = torch.empty_like(perm)
    order = torch.arange(seq_len, device=device).view(1, seq_len, 1).expand_as(perm)
    return positions.scatter_(1, perm, order)


def _rows(plan: Plan, rank: int, degree: int, chunk: int) -> _Rows:
    layout = plan.layout
    seq_len, bq, bk = layout.q_len, layout.block_q, layout.block_k
    device = layout.kv_counts.device
    positions = _token_positions(plan.permutation, seq_len, device)[:, rank * chunk : (rank + 1) * chunk]
    mask = layout.to_mask()  # [Bl, Hl, nq, nk]
    bx, hx = max(positions.shape[0], mask.shape[0]), max(positions.shape[2], mask.shape[1])
    positions = positions.expand(bx, chunk, hx)
    nq = num_blocks(seq_len, bq)
    touched = torch.zeros(bx, hx, nq, dtype=torch.bool, device=device)
    touched.scatter_(2, (positions // bq).transpose(1, 2), True)  # [Bx, Hx, nq]
    rows = int(touched.sum(-1).max())
    # Slot of each touched block (ascending), and the block in each slot (nq: an empty slot).
    slot_of = touched.cumsum(-1) - 1
    blocks = torch.full((bx, hx, rows + 1), nq, dtype=torch.long, device=device)
    block_ids = torch.arange(nq, device=device).expand(bx, hx, nq)
    blocks.scatter_(2, torch.where(touched, slot_of, rows), block_ids)
    blocks = blocks[..., :rows]  # [Bx, Hx, M]
    target = slot_of.gather(2, (positions // bq).transpose(1, 2)) * bq + (positions % bq).transpose(1, 2)
    target = target.transpose(1, 2)  # [Bx, chunk, Hx]
    source = torch.full((bx, rows * bq, hx), chunk, dtype=torch.long, device=device)
    local = torch.arange(chunk, device=device).view(1, chunk, 1).expand(bx, chunk, hx)
    source.scatter_(1, target, local)
    padded = torch.cat([mask.expand(bx, hx, *mask.shape[2:]), mask.new_zeros(bx, hx, 1, mask.shape[3])], 2)
    row_mask = padded.gather(2, blocks.unsqueeze(-1).expand(bx, hx, rows, mask.shape[3]))  # [Bx, Hx, M, nk]
    nk = mask.shape[3]
    per_shard = -(-nk // degree)
    shards = []
    for start in range(0, nk, per_shard):
        stop = min(start + per_shard, nk)
        first, last = start * bk, min(stop * bk, layout.kv_len)
        sub = BlockLayout.from_mask(row_mask[..., start:stop], rows * bq, last - first, bq, bk)
        shards.append((first, last, sub))
    return _Rows(source, target, tuple(shards))


def _merge(
    out: torch.Tensor | None, lse: torch.Tensor | None, part: torch.Tensor, part_lse: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two partial attentions over disjoint keys, `[B, S, H, D]` fp32 and lse `[B, H, S]`, as one."""
    part = part.float()
    if out is None:
        return part, part_lse
    total = torch.logaddexp(lse, part_lse)
    finite = torch.isfinite(total)
    keep = torch.where(finite, torch.exp(lse - total), 0.0).transpose(1, 2).unsqueeze(-1)
    add = torch.where(finite, torch.exp(part_lse - total), 0.0).transpose(1, 2).unsqueeze(-1)
    return out * keep + part * add, total


class Ring:
    """The ring group of a context-parallel config (diffusers' `_ring_mesh`), `degree` ranks."""

    def __init__(self, cp: Any) -> None:
        self.group = cp._ring_mesh.get_group()
        self.degree = cp.ring_degree
        self.rank = cp._ring_local_rank
        self._rows: dict[int, _Rows] = {}

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """The full sequence `[B, S, H, D]` from every rank's chunk `[B, S / R, H, D]`, in rank order."""
        parts = [torch.empty_like(x) for _ in range(self.degree)]
        dist.all_gather(parts, x.contiguous(), group=self.group)
        return torch.cat(parts, 1)

    def planner(self, method: Method) -> Method:
        """`method`, planning from this rank's query chunk: it gathers the full queries first."""
        return _FullQueries(method, self)

    def run(self, plan: Plan, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """This rank's output `[B, S / R, H, D]` for its queries q `[B, S / R, H, D]` and the full k/v
        `[B, S, H, D]`, as `plan.run` on the full sequence gives it."""
        if isinstance(plan.layout, VarBlockLayout):
            # Cluster-sized blocks are not cut into rank shards: each rank runs the whole call and
            # keeps its own rows (correct, without the ring's saving).
            chunk = q.shape[1]
            return plan.run(self.gather(q), k, v)[:, self.rank * chunk : (self.rank + 1) * chunk]
        rows = self._rows.get(id(plan))
        if rows is None:
            rows = self._rows[id(plan)] = _rows(plan, self.rank, self.degree, q.shape[1])
            weakref.finalize(plan, self._rows.pop, id(plan), None)
        batch, chunk, heads, dim = q.shape
        padded = torch.cat([q, q.new_zeros(batch, 1, heads, dim)], 1)
        source = rows.source.expand(batch, -1, heads)
        q_rows = padded.gather(1, source.unsqueeze(-1).expand(-1, -1, -1, dim))
        if plan.permutation is not None:
            k, v = permute_tokens(k, plan.permutation), permute_tokens(v, plan.permutation)
        out = lse = None
        for first, last, layout in rows.shards:
            part, part_lse = block_sparse_attention(
                q_rows, k[:, first:last], v[:, first:last], layout, return_lse=True
            )
            out, lse = _merge(out, lse, part, part_lse)
        target = rows.target.expand(batch, -1, heads)
        return out.gather(1, target.unsqueeze(-1).expand(-1, -1, -1, dim)).to(q.dtype)


class _FullQueries(Method):
    """A method whose `plan` receives this rank's query chunk and plans on the gathered full queries."""

    def __init__(self, method: Method, ring: Ring) -> None:
        self.method = method
        self.ring = ring
        self.static = method.static
        self.name = method.name

    def plan(self, q: torch.Tensor, k: torch.Tensor, grid: TokenGrid, previous: Plan | None = None) -> Plan:
        return self.method.plan(self.ring.gather(q), k, grid, previous=previous)
