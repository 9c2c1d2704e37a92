"""SparseAttnProcessor: a diffusers attention processor running video self-attention through a Method."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any

import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods.base import Method
from dit_accel.processors import notices
from dit_accel.processors.adapters import Adapter, adapter_for
from dit_accel.processors.adapters.plain import PlainAttentionAdapter
from dit_accel.processors.adapters.wan import rotary_video_grid
from dit_accel.processors.call_op import CallInputs, attention_call
from dit_accel.processors.object_ids import object_id
from dit_accel.processors.parallel import ContextShards, context_parallel, unsupported_layout
from dit_accel.processors.planning import SITE_ATTRIBUTE, PlanningContext
from dit_accel.processors.ring import Ring
from dit_accel.processors.stock import stock_attention

_NO_GRID = (
    "cannot tell the video token grid of this attention call: pass grid=(frames, height, width) "
    "(tokens after patchify) to the processor, or use dit_accel.accelerate(pipe, ...)"
)


def _video_dims(grid: TokenGrid | tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    if grid is None:
        return None
    if isinstance(grid, TokenGrid):
        return grid.frames, grid.height, grid.width
    dims = TokenGrid(*grid)  # validates
    return dims.frames, dims.height, dims.width


class SparseAttnProcessor:
    """Attention processor for the supported DiT families (see `dit_accel.processors.adapters`).

    Self-attention over the video tokens (with the text tokens the model mixes in) runs through
    `method`; cross-attention, Wan I2V's image context and text refiners run the family's stock
    processor, so one instance can be set on every module with `set_attn_processor`.

    method:      the sparse attention method.
    grid:        video tokens after patchify, (frames, height, width) or a TokenGrid (its text part is
                 ignored: the adapter knows where the text is). None: taken from `accelerate()`'s hook,
                 else from the call (Wan: its rotary embedding), else a ValueError asks for it.
    min_seq_len: calls with fewer tokens run dense attention.
    runtime:     where plans come from: step, layer, plan cache and stats (`accelerate()` sets one);
                 default: a bare `PlanningContext`.
    """

    # diffusers' set_attention_backend / enable_parallelism set these.
    _attention_backend = None
    _parallel_config = None

    def __init__(
        self,
        method: Method,
        *,
        grid: TokenGrid | tuple[int, int, int] | None = None,
        min_seq_len: int = 0,
        runtime: PlanningContext | None = None,
    ) -> None:
        if not isinstance(method, Method):
            raise ValueError(f"method must be a dit_accel Method, got {method!r}")
        if isinstance(min_seq_len, bool) or not isinstance(min_seq_len, int) or min_seq_len < 0:
            raise ValueError(f"min_seq_len must be a non-negative integer, got {min_seq_len!r}")
        self.method = method
        self.grid = _video_dims(grid)
        self.min_seq_len = min_seq_len
        self.runtime = runtime if runtime is not None else PlanningContext()
        self._stock: dict[type[Adapter], Any] = {}
        self._notices = notices.DenseNotices()
        self._shards: ContextShards | None = None
        self._id = object_id(self)

    def __call__(
        self,
        attn: torch.nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: Any = None,
    ) -> Any:
        adapter = adapter_for(attn, encoder_hidden_states, image_rotary_emb)
        if not adapter.accelerates(attn, encoder_hidden_states):
            if isinstance(adapter, PlainAttentionAdapter):
                self._note_dense(notices.MODULE, type(attn).__name__)
            stock = self._stock_processor(adapter)
            return stock(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        return adapter.forward(
            self, attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb
        )

    def _stock_processor(self, adapter: Adapter) -> Any:
        stock = self._stock.get(type(adapter))
        if stock is None:
            stock = self._stock[type(adapter)] = adapter.stock()
        stock._attention_backend = self._attention_backend
        stock._parallel_config = self._parallel_config
        return stock

    def attend(
        self,
        attn: torch.nn.Module,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        text_len: int | None = 0,
        text_first: bool = False,
        mask: torch.Tensor | None = None,
        key_len: torch.Tensor | None = None,
        grid_table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One self-attention call: q/k/v `[B, S, H, D]` -> `[B, S, H, D]`, as one opaque custom op
        (`dit_accel.processors.call_op`) so that torch.compile traces it without a graph break.

        text_len:   text tokens in the sequence (None: all tokens after the video grid).
        mask:       the stock attention mask; a call with a mask runs dense unless `key_len` explains it.
        key_len:    int `[B]` valid keys per batch element (a key-padding mask over trailing text tokens).
        grid_table: Wan's rotary table `[1, S, 1, D]`, which tells (frames, height, width) in bare use.

        Under context parallelism q/k/v hold this rank's sequence chunk (`processors/parallel.py`; the
        grid then comes from `grid=` or `accelerate()`); the all-to-alls run inside the op too.
        """
        return attention_call(
            q,
            k,
            v,
            mask,
            key_len,
            grid_table,
            getattr(attn, SITE_ATTRIBUTE, None),
            self.runtime.step_token,
            -1 if text_len is None else text_len,
            text_first,
            type(attn).__name__,
            self._id,
        )

    def run_call(
        self, site_index: int | None, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, call: CallInputs
    ) -> torch.Tensor:
        """`attend`'s work, run eagerly inside the custom op; `site_index` is the module's site tensor."""
        site = self.runtime.site(site_index)
        cp = context_parallel(self._parallel_config)
        if cp is None:
            return self._attend(site, q, k, v, call)
        cause = unsupported_layout(cp, call.text_len, call.mask, call.key_len)
        if cause is not None:
            return self._dense(
                call.kind, site, q, k, v, call.mask, cause, parallel_config=self._parallel_config
            )
        if self._shards is None or self._shards.config is not cp:
            self._shards = ContextShards(cp)
        q, k, v = self._shards.gather(q, k, v)
        # The rotary table is this rank's chunk too: the grid comes from `grid=` or `accelerate()`.
        call = dataclasses.replace(call, grid_table=None)
        return self._shards.scatter(self._attend(site, q, k, v, call, ring=self._shards.ring))

    def _attend(
        self,
        site: Hashable | None,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        call: CallInputs,
        ring: Ring | None = None,
    ) -> torch.Tensor:
        """`run_call` on k/v `[B, S, H, D]` holding the whole sequence, and q the same (with `ring`: this
        rank's chunk of the queries)."""
        seq_len = k.shape[1]
        mask, kind = call.mask, call.kind
        lengths = call.key_len.tolist() if call.key_len is not None else None
        if lengths is not None and min(lengths) == seq_len:
            mask = lengths = None  # nothing is padded
        if self.runtime.is_dense(site):
            return self._dense(kind, site, q, k, v, mask, notices.SCHEDULE)
        if seq_len < self.min_seq_len:
            return self._dense(kind, site, q, k, v, mask, notices.SHORT)
        if mask is not None and lengths is None:
            return self._dense(kind, site, q, k, v, mask, notices.MASK)
        grid = self._grid(seq_len, call.text_len, call.text_first, call.grid_table)
        if lengths is None:
            return self._sparse(site, q, k, v, grid, ring)
        if grid.text_first or min(lengths) < grid.video_len:
            return self._dense(kind, site, q, k, v, mask, notices.MASK)
        return self._sparse_padded(site, q, k, v, grid, lengths)

    def _grid(
        self,
        seq_len: int,
        text_len: int | None,
        text_first: bool,
        grid_table: torch.Tensor | None,
    ) -> TokenGrid:
        dims = self.grid or self.runtime.video_grid()
        if dims is None and grid_table is not None:
            dims = rotary_video_grid(grid_table)
        if dims is None:
            raise ValueError(_NO_GRID)
        frames, height, width = dims
        video_len = frames * height * width
        text = seq_len - video_len if text_len is None else text_len
        if text < 0 or video_len + text != seq_len:
            raise ValueError(
                f"video grid {frames}x{height}x{width} ({video_len} tokens) plus {text} text tokens does not "
                f"match this attention call's {seq_len} tokens; give the grid after patchify"
            )
        return TokenGrid(frames, height, width, text_len=text, text_first=text_first)

    def _note_dense(self, cause: str, kind: str) -> None:
        self._notices.note(cause, kind)
        self.runtime.dense(cause)

    def _dense(
        self,
        kind: str,
        site: Hashable | None,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None,
        cause: str,
        parallel_config: Any = None,
    ) -> torch.Tensor:
        self._note_dense(cause, kind)
        start = self.runtime.clock(q.device)
        out = stock_attention(q, k, v, mask, backend=self._attention_backend, parallel_config=parallel_config)
        elapsed = self.runtime.clock(q.device) - start
        self.runtime.record(site, plan=None, plan_s=0.0, attention_s=elapsed, cache_hit=False)
        return out

    def _sparse(
        self,
        site: Hashable | None,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        grid: TokenGrid,
        ring: Ring | None = None,
    ) -> torch.Tensor:
        start = self.runtime.clock(q.device)
        method = self.method if ring is None else ring.planner(self.method)
        plan, hit = self.runtime.plan(site, method, q, k, grid)
        planned = self.runtime.clock(q.device)
        out = plan.run(q, k, v) if ring is None else ring.run(plan, q, k, v)
        done = self.runtime.clock(q.device)
        self.runtime.record(
            site, plan=plan, plan_s=planned - start, attention_s=done - planned, cache_hit=hit
        )
        return out

    def _sparse_padded(
        self,
        site: Hashable | None,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        grid: TokenGrid,
        lengths: list[int],
    ) -> torch.Tensor:
        """Trailing padded keys are dropped per batch element: rows with the same valid length n run the
        method on the first n tokens (grid with n - video_len text tokens); the padded query rows attend
        densely to the n valid keys, exactly what the key-padding mask asks for."""
        out = torch.empty_like(q)
        for length in sorted(set(lengths)):
            rows = [b for b, n in enumerate(lengths) if n == length]
            index = slice(None) if len(rows) == len(lengths) else torch.tensor(rows, device=q.device)
            qs, ks, vs = q[index], k[index], v[index]
            sub = dataclasses.replace(grid, text_len=length - grid.video_len)
            out[index, :length] = self._sparse(site, qs[:, :length], ks[:, :length], vs[:, :length], sub)
            if length < q.shape[1]:
                out[index, length:] = stock_attention(
                    qs[:, length:], ks[:, :length], vs[:, :length], backend=self._attention_backend
                )
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, grid={self.grid}, min_seq_len={self.min_seq_len})"
        )
