"""FlexAttention as the CPU engine of large block-sparse calls: equal to the reference, chosen only
where it pays, and a clear fallback where it cannot run."""

from __future__ import annotations

import warnings

import pytest
import torch

import dit_accel as da
from dit_accel.kernels.block_sparse import flex_cpu
from dit_accel.kernels.block_sparse.torch_sparse import torch_engine
from tests.helpers import random_layout

SEQ, HEADS, DIM, BLOCK = 300, 3, 64, 64  # a partial last block; one compiled shape for the whole file


def _qkv(seed: int, batch: int = 2, seq: int = SEQ) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, seq, HEADS, DIM, generator=generator) for _ in range(3))


def _layout(seed: int, batch: int, heads: int) -> da.BlockLayout:
    """About 40% of the blocks, the partial tail among them; head 0's first query block empty."""
    generator = torch.Generator().manual_seed(seed)
    return random_layout(batch, heads, SEQ, SEQ, BLOCK, BLOCK, 0.4, generator, empty_rows=1)


def _big(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A Wan 480p-sized `[1, 32760, 3, 128]` tensor that takes no memory (only its shape is read)."""
    return torch.zeros((), dtype=dtype).expand(1, 32760, 3, 128)


@pytest.fixture
def flex_on(monkeypatch):
    """`DIT_ACCEL_FLEX=on` where compiled Flex can run (a C++ compiler exists)."""
    monkeypatch.setenv(flex_cpu.FLEX_ENV, "on")
    if not flex_cpu.cpp_compiler_found():
        pytest.skip("compiled FlexAttention needs a C++ compiler")


@pytest.mark.parametrize("layout_batch,layout_heads", [(2, 3), (1, 1)])
def test_flex_engine_matches_reference(flex_on, layout_batch, layout_heads):
    q, k, v = _qkv(0)
    layout = _layout(1, layout_batch, layout_heads)
    assert torch_engine(q, k, layout.kv_counts, layout.kv_indices, BLOCK, need_lse=False) == "flex"
    out = da.block_sparse_attention(q, k, v, layout, scale=0.1)
    reference = da.block_sparse_attention(q, k, v, layout, scale=0.1, backend="reference")
    torch.testing.assert_close(out, reference, atol=2e-5, rtol=2e-5)
    assert out[0, :BLOCK, 0].abs().max() == 0


def test_lse_calls_and_full_layouts_keep_their_engines(monkeypatch):
    monkeypatch.setenv(flex_cpu.FLEX_ENV, "on")
    q, k, v = _qkv(2)
    layout = _layout(3, 2, 3)
    assert torch_engine(q, k, layout.kv_counts, layout.kv_indices, BLOCK, need_lse=True) == "gather"
    full = da.BlockLayout.dense(SEQ, SEQ, BLOCK, BLOCK)
    assert torch_engine(q, k, full.kv_counts, full.kv_indices, BLOCK, need_lse=False) == "sdpa"
    out, lse = da.block_sparse_attention(q, k, v, layout, return_lse=True)
    ref_out, ref_lse = da.block_sparse_attention(q, k, v, layout, return_lse=True, backend="reference")
    torch.testing.assert_close(out, ref_out, atol=2e-5, rtol=2e-5)
    torch.testing.assert_close(lse, ref_lse, atol=2e-5, rtol=2e-5)


def test_auto_serves_only_large_float32_cpu_calls(monkeypatch):
    monkeypatch.delenv(flex_cpu.FLEX_ENV, raising=False)
    monkeypatch.setattr(flex_cpu, "cpp_compiler_found", lambda: True)
    q, k, _ = _qkv(4)
    assert not flex_cpu.flex_serves(q, k, need_lse=False)  # the work is far below FLEX_MIN_DENSE_WORK
    assert flex_cpu.flex_serves(_big(), _big(), need_lse=False)
    assert not flex_cpu.flex_serves(_big(), _big(), need_lse=True)
    assert not flex_cpu.flex_serves(_big(torch.bfloat16), _big(torch.bfloat16), need_lse=False)
    monkeypatch.setenv(flex_cpu.FLEX_ENV, "off")
    assert not flex_cpu.flex_serves(_big(), _big(), need_lse=False)


def test_bad_setting_names_the_variable_and_values(monkeypatch):
    monkeypatch.setenv(flex_cpu.FLEX_ENV, "yes")
    q, k, v = _qkv(5)
    with pytest.raises(ValueError, match=r"\$DIT_ACCEL_FLEX must be one of auto, on, off, got 'yes'"):
        da.block_sparse_attention(q, k, v, _layout(6, 1, 1))


def test_without_a_compiler_the_gather_path_runs_and_says_so(monkeypatch):
    monkeypatch.setenv(flex_cpu.FLEX_ENV, "on")
    monkeypatch.setattr(flex_cpu, "cpp_compiler_found", lambda: False)
    q, k, v = _qkv(7)
    layout = _layout(8, 2, 3)
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler was found: using the gather path"):
        out = da.block_sparse_attention(q, k, v, layout)
    reference = da.block_sparse_attention(q, k, v, layout, backend="reference")
    torch.testing.assert_close(out, reference, atol=2e-5, rtol=2e-5)


def test_past_the_shape_limit_new_shapes_use_the_gather_path(flex_on, monkeypatch):
    monkeypatch.setattr(flex_cpu, "_FLEX_SHAPES", 1)
    flex_cpu._compiled_flex.cache_clear()
    try:
        results = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for batch in (1, 3):  # two new shapes for a compiled function that allows one
                q, k, v = _qkv(9, batch=batch)
                layout = _layout(10, 1, HEADS)
                results.append((da.block_sparse_attention(q, k, v, layout), q, k, v, layout))
    finally:
        flex_cpu._compiled_flex.cache_clear()
    assert any("compiled 1 shapes in this process" in str(w.message) for w in caught)
    for out, q, k, v, layout in results:
        reference = da.block_sparse_attention(q, k, v, layout, backend="reference")
        torch.testing.assert_close(out, reference, atol=2e-5, rtol=2e-5)


def test_flex_engine_inside_a_compiled_model(flex_on):
    """Users compile the whole transformer: the custom op stays opaque and runs Flex inside."""
    q, k, v = _qkv(11)
    layout = _layout(12, 2, 3)

    def block(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return da.block_sparse_attention(q * 2, k, v, layout) + 1

    out = torch.compile(block, fullgraph=True)(q, k, v)
    reference = da.block_sparse_attention(q * 2, k, v, layout, backend="reference") + 1
    torch.testing.assert_close(out, reference, atol=2e-5, rtol=2e-5)
