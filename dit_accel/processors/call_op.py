"""The sparse attention call as one opaque torch custom op: all that torch.compile sees of dit_accel.

Planning, the plan cache, the schedule and the kernel run inside `dit_accel::attention_call`, which
takes tensors, numbers and one string only and returns `[B, S, H, D]`, so
`torch.compile(fullgraph=True)` traces a pure call of fixed output shape. What differs between calls is
read when the op runs: the layer from the attention module's site tensor, the step from the runtime.
One graph then serves every layer, step and plan refresh. Under context parallelism the all-to-alls
(and the ring's exchanges) run inside the op as well: it runs eagerly, the same on every rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dit_accel.processors.object_ids import lookup


@dataclass(frozen=True)
class CallInputs:
    """What one attention call tells besides q/k/v (see `attention_call`); text_len None: all tokens
    after the video grid."""

    kind: str
    text_len: int | None
    text_first: bool
    mask: torch.Tensor | None
    key_len: torch.Tensor | None
    grid_table: torch.Tensor | None


@torch.library.custom_op("dit_accel::attention_call", mutates_args=())
def attention_call(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    key_len: torch.Tensor | None,
    grid_table: torch.Tensor | None,
    site: torch.Tensor | None,
    step: torch.Tensor | None,
    text_len: int,
    text_first: bool,
    kind: str,
    processor: int,
) -> torch.Tensor:
    """Self-attention of q/k/v `[B, S, H, D]` by the SparseAttnProcessor with id `processor`.

    site:     int64 scalar, the module's index in the runtime's sites (None: unknown).
    step:     the runtime's step token, which the step hook's op updates before each forward; it is an
              input only so that compiled code keeps this call after that update.
    text_len: text tokens in the sequence, -1: all tokens after the video grid.
    kind:     the attention module's class name (what the dense-call notices name).
    The other arguments are `SparseAttnProcessor.attend`'s.
    """
    call = CallInputs(kind, None if text_len < 0 else text_len, text_first, mask, key_len, grid_table)
    return lookup(processor).run_call(None if site is None else int(site), q, k, v, call)


@attention_call.register_fake
def _(q, k, v, mask, key_len, grid_table, site, step, text_len, text_first, kind, processor):
    return q.new_empty(*q.shape[:3], v.shape[3])
