"""The plain-torch sparse path and the public entry point, against the float64 reference."""

import math

import pytest
import torch

import dit_accel as da
from dit_accel import BlockLayout
from dit_accel.kernels.block_sparse import torch_sparse
from tests.helpers import random_layout, rel_l2

CASES = [
    pytest.param(1, 2, 1000, 1000, 64, 64, 64, 0.3, id="s1000-b64-d64"),
    pytest.param(2, 3, 333, 333, 64, 32, 32, 0.5, id="s333-bq64-bk32-batch2"),
    pytest.param(1, 2, 64, 64, 64, 64, 128, 1.0, id="s64-one-block-d128"),
    pytest.param(2, 2, 500, 260, 128, 64, 12, 0.4, id="q500-kv260-d12"),
    pytest.param(1, 4, 700, 700, 64, 64, 72, 0.0, id="s700-one-block-per-row-d72"),
]


def _inputs(b, sq, sk, h, d, dtype, g):
    q = torch.randn(b, sq, h, d, generator=g).to(dtype)
    k = torch.randn(b, sk, h, d, generator=g).to(dtype)
    v = torch.randn(b, sk, h, d, generator=g).to(dtype)
    return q, k, v


@pytest.mark.parametrize("b, h, sq, sk, bq, bk, d, density", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_torch_path_matches_reference(b, h, sq, sk, bq, bk, d, density, dtype):
    g = torch.Generator().manual_seed(hash((b, h, sq, sk, d)) % 2**31)
    q, k, v = _inputs(b, sq, sk, h, d, dtype, g)
    layout = random_layout(b, h, sq, sk, bq, bk, density, g, empty_rows=1)
    ref, ref_lse = da.block_sparse_attention(
        q.double(), k.double(), v.double(), layout, return_lse=True, backend="reference"
    )
    out, lse = da.block_sparse_attention(q, k, v, layout, return_lse=True, backend="torch")
    assert out.dtype == dtype and out.shape == (b, sq, h, d)
    assert rel_l2(out, ref) < (1e-5 if dtype == torch.float32 else 1e-2)
    assert torch.equal(torch.isinf(lse), torch.isinf(ref_lse))
    finite = torch.isfinite(ref_lse)
    assert torch.allclose(lse[finite], ref_lse[finite], atol=1e-4 if dtype == torch.float32 else 2e-2)
    # Head 0's first query block has no key blocks: zeros, LSE = -inf.
    assert torch.all(out[:, :bq, 0] == 0) and torch.all(torch.isneginf(lse[:, 0, :bq]))
    fused = da.block_sparse_attention(q, k, v, layout, backend="torch")  # no LSE: fused SDPA per chunk
    assert rel_l2(fused, ref) < (1e-5 if dtype == torch.float32 else 1e-2)
    assert torch.all(fused[:, :bq, 0] == 0)


def test_dense_layout_matches_sdpa_with_strided_inputs():
    g = torch.Generator().manual_seed(1)
    qkv = torch.randn(2, 300, 3, 4, 32, generator=g)  # a fused projection: q/k/v are strided views
    q, k, v = qkv.unbind(2)
    assert not q.is_contiguous()
    layout = BlockLayout.dense(300, 300, 64, 64)
    out = da.block_sparse_attention(q, k, v, layout, scale=0.3)
    ref = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=0.3
    ).transpose(1, 2)
    assert rel_l2(out, ref) < 1e-5


@pytest.mark.parametrize("need_lse", [False, True], ids=["fused", "lse"])
def test_uneven_rows_in_several_chunks_match_reference(monkeypatch, need_lse):
    """Rows listing 1 to all key blocks, sorted into many small chunks (some padded, some with the partial
    last block): every row still gets exactly its own blocks."""
    monkeypatch.setattr(torch_sparse, "_CHUNK_BYTES", 64 * 64 * 16 * 4 * 3)
    g = torch.Generator().manual_seed(5)
    q, k, v = _inputs(2, 1000, 1000, 3, 16, torch.float32, g)
    n = 16
    widths = torch.randint(1, n + 1, (2, 3, n, 1), generator=g)
    mask = torch.rand(2, 3, n, n, generator=g).argsort(-1) < widths  # `widths` random blocks per row
    mask[0, 0, 3] = False  # one empty row
    layout = BlockLayout.from_mask(mask, 1000, 1000, 64, 64)
    got = torch_sparse.block_sparse_attention_torch(
        q, k, v, layout.kv_counts, layout.kv_indices, 64, 64, 0.25, need_lse=need_lse
    )
    ref, ref_lse = da.block_sparse_attention(
        q.double(), k.double(), v.double(), layout, scale=0.25, return_lse=True, backend="reference"
    )
    assert rel_l2(got[0], ref) < 1e-5
    assert torch.all(got[0][0, 192:256, 0] == 0)
    if need_lse:
        finite = torch.isfinite(ref_lse)
        assert torch.equal(finite, torch.isfinite(got[1]))
        assert torch.allclose(got[1][finite], ref_lse[finite].float(), atol=1e-4)


def test_chunks_stay_within_the_spread_and_the_budget():
    counts = [1, 1, 2, 8, 8, 9, 9, 9, 30, 31]
    # At most 20 listed blocks per chunk; a row over the budget still gets a chunk of its own.
    ranges = torch_sparse._chunks(counts, torch_sparse._CHUNK_BYTES // 20)
    assert ranges == [(0, 3), (3, 5), (5, 7), (7, 8), (8, 9), (9, 10)]


def test_per_batch_and_per_head_layouts_are_respected():
    g = torch.Generator().manual_seed(2)
    q, k, v = _inputs(2, 256, 256, 2, 16, torch.float32, g)
    mask = torch.zeros(2, 2, 4, 4, dtype=torch.bool)
    mask[0, 0, :, 0] = True  # batch 0 head 0: only key block 0
    mask[1, 1, :, 3] = True  # batch 1 head 1: only key block 3
    mask[0, 1] = True
    mask[1, 0] = True
    out = da.block_sparse_attention(q, k, v, BlockLayout.from_mask(mask, 256, 256, 64, 64))
    only_first = torch.nn.functional.scaled_dot_product_attention(
        q[0, :, 0].unsqueeze(0), k[0, :64, 0].unsqueeze(0), v[0, :64, 0].unsqueeze(0)
    )[0]
    only_last = torch.nn.functional.scaled_dot_product_attention(
        q[1, :, 1].unsqueeze(0), k[1, 192:, 1].unsqueeze(0), v[1, 192:, 1].unsqueeze(0)
    )[0]
    assert rel_l2(out[0, :, 0], only_first) < 1e-5
    assert rel_l2(out[1, :, 1], only_last) < 1e-5


def test_default_scale_is_inverse_sqrt_head_dim():
    g = torch.Generator().manual_seed(3)
    q, k, v = _inputs(1, 128, 128, 1, 64, torch.float32, g)
    layout = BlockLayout.dense(128, 128, 64, 64)
    default = da.block_sparse_attention(q, k, v, layout)
    explicit = da.block_sparse_attention(q, k, v, layout, scale=1 / math.sqrt(64))
    assert torch.equal(default, explicit)


def test_torch_compile_fullgraph_traces_through_the_custom_op():
    g = torch.Generator().manual_seed(4)
    q, k, v = _inputs(1, 200, 200, 2, 16, torch.float32, g)
    layout = random_layout(1, 2, 200, 200, 64, 64, 0.5, g)

    def attend(q, k, v):
        return da.block_sparse_attention(q * 2.0, k, v, layout) + 1.0

    compiled = torch.compile(attend, fullgraph=True, backend="eager")
    assert torch.allclose(compiled(q, k, v), attend(q, k, v))
    assert "dit_accel" in str(torch.ops.dit_accel.block_sparse_attention)


@pytest.mark.parametrize(
    "change, message",
    [
        pytest.param({"q": torch.zeros(1, 128, 2)}, r"q must be a 4-D tensor", id="q-rank"),
        pytest.param({"k": torch.zeros(1, 128, 3, 16)}, "must share batch and heads", id="heads-differ"),
        pytest.param({"v": torch.zeros(1, 128, 2, 16, dtype=torch.float16)}, "share one dtype", id="dtype"),
        pytest.param({"q": torch.zeros(1, 100, 2, 16)}, "layout is for q_len=128", id="len"),
        pytest.param({"backend": "cuda"}, "backend must be one of triton, torch, reference", id="backend"),
        pytest.param({"layout": torch.ones(1)}, "layout must be a dit_accel.BlockLayout", id="layout-type"),
        pytest.param({"q": torch.zeros(1, 128, 2, 16, dtype=torch.int32)}, "q dtype must be", id="int"),
    ],
)
def test_bad_input_is_rejected_with_a_named_argument(change, message):
    args = {
        "q": torch.zeros(1, 128, 2, 16),
        "k": torch.zeros(1, 128, 2, 16),
        "v": torch.zeros(1, 128, 2, 16),
        "layout": BlockLayout.dense(128, 128, 64, 64),
        "backend": None,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        da.block_sparse_attention(**args)


def test_layout_heads_must_broadcast():
    layout = BlockLayout.dense(128, 128, 64, 64, heads=3)
    x = torch.zeros(1, 128, 2, 16)
    with pytest.raises(ValueError, match="layout heads must be 1 or 2"):
        da.block_sparse_attention(x, x, x, layout)
