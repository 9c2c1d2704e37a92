"""FlexAttention as the CPU engine of large block-sparse calls.

Compiled FlexAttention reads the listed key blocks in place, where the gather path copies them per
query block first; at the Wan 480p grid with 64-token blocks that copy made the gather path 0.58-0.70x
of Flex (`benchmarks/results/attention-cpu-wan480p-x86-64.md`). Flex compiles once per shape (10 s in
a fresh process, 2 s with inductor's disk cache warm), so it serves only calls whose dense work is
large enough for that to pay back within a few calls, never the Quickstart's. Compiled Flex on CPU
cannot return the log-sum-exp, so LSE calls (ring attention) stay on the gather path.

`DIT_ACCEL_FLEX` chooses: "auto" (default: large float32 calls, when a C++ compiler exists), "on" (every
float32 call it can serve, any size) or "off" (never).
"""

from __future__ import annotations

import functools
import os
import warnings

import torch

from dit_accel.kernels.blocks import num_blocks

FLEX_ENV = "DIT_ACCEL_FLEX"
FLEX_MODES = ("auto", "on", "off")
# Multiply-adds of one dense call (B * H * Sq * Sk * D) from which "auto" picks Flex: about 1 s of dense
# attention on a 2-core CPU, so a first-call compile costs a few calls' time. The Wan 480p grid with 3
# heads is 4.1e11; the demo model's 33-frame call (1.8e10) and the Quickstart's stay on the gather path.
FLEX_MIN_DENSE_WORK = 1e11
# Distinct shapes one process compiles before new shapes go back to the gather path.
_FLEX_SHAPES = 16


def flex_mode() -> str:
    """The `DIT_ACCEL_FLEX` setting, checked."""
    mode = os.environ.get(FLEX_ENV, "auto")
    if mode not in FLEX_MODES:
        raise ValueError(f"${FLEX_ENV} must be one of {', '.join(FLEX_MODES)}, got {mode!r}")
    return mode


@functools.cache
def cpp_compiler_found() -> bool:
    """Whether inductor finds the C++ compiler that compiled Flex needs on a CPU."""
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except (exc.InvalidCxxCompiler, OSError, RuntimeError):
        return False
    return True


def flex_serves(q: torch.Tensor, k: torch.Tensor, need_lse: bool) -> bool:
    """Whether the call on q `[B, Sq, H, D]`, k `[B, Sk, H, D]` runs on compiled Flex."""
    mode = flex_mode()
    if mode == "off" or need_lse or q.device.type != "cpu" or q.dtype != torch.float32:
        return False
    b, sq, h, d = q.shape
    if mode == "auto" and b * h * sq * k.shape[1] * d < FLEX_MIN_DENSE_WORK:
        return False
    if not cpp_compiler_found():
        if mode == "on":
            warnings.warn(
                f"${FLEX_ENV}=on but no C++ compiler was found: using the gather path", stacklevel=3
            )
        return False
    return True


@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    # fullgraph: past the recompile limit dynamo raises instead of running Flex's dense eager reference.
    return torch.compile(flex_attention, dynamic=False, fullgraph=True, recompile_limit=_FLEX_SHAPES)


def flex_block_mask(
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    batch: int,
    heads: int,
    q_len: int,
    kv_len: int,
    block_q: int,
    block_k: int,
):
    """CSR key-block lists (counts `[Bl, Hl, nq]`, indices `[Bl, Hl, nq, max_k]`) as a FlexAttention
    BlockMask of full blocks `[batch, heads, nq, nk]`: broadcast dims expanded and indices padded to nk,
    so every layout of a shape has one mask shape and one compiled kernel serves them all."""
    from torch.nn.attention.flex_attention import BlockMask

    nk = num_blocks(kv_len, block_k)
    counts = kv_counts.expand(batch, heads, -1).contiguous()
    indices = kv_indices.new_zeros(*counts.shape, nk)
    indices[..., : kv_indices.shape[-1]] = kv_indices
    return BlockMask.from_kv_blocks(
        torch.zeros_like(counts),
        torch.zeros_like(indices),
        counts,
        indices,
        BLOCK_SIZE=(block_q, block_k),
        seq_lengths=(q_len, kv_len),
        compute_q_blocks=False,
    )


def block_sparse_attention_flex(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
) -> torch.Tensor | None:
    """q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]` float32 on the CPU -> out `[B, Sq, H, D]` by compiled Flex;
    None (with a warning) once this process has compiled `_FLEX_SHAPES` shapes."""
    from torch._dynamo.exc import FailOnRecompileLimitHit

    b, sq, h, _ = q.shape
    mask = flex_block_mask(kv_counts, kv_indices, b, h, sq, k.shape[1], block_q, block_k)
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    try:
        out = _compiled_flex()(qt, kt, vt, block_mask=mask, scale=scale)
    except FailOnRecompileLimitHit:
        warnings.warn(
            f"FlexAttention compiled {_FLEX_SHAPES} shapes in this process: new shapes use the gather path",
            stacklevel=3,
        )
        return None
    return out.transpose(1, 2).contiguous()
