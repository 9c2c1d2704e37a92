"""VarBlockLayout (blocks of per-block sizes): builders, masks, density, checks; and block-sparse
attention over it on the torch and Triton backends vs the float64 dense reference."""

import pytest
import torch

import dit_accel
from dit_accel import VarBlockLayout
from dit_accel.kernels.block_sparse.triton_var import query_tile_table
from dit_accel.var_layout import offsets_from_sizes
from tests.helpers import random_layout, rel_l2


def random_sizes(gen: torch.Generator, lead: tuple[int, int], n: int, total: int) -> torch.Tensor:
    """Long `[*lead, n]` random block sizes summing to `total`, some of them 0."""
    cuts = torch.sort(torch.randint(0, total + 1, (*lead, n - 1), generator=gen), -1).values
    edges = torch.cat((torch.zeros(*lead, 1, dtype=torch.long), cuts, torch.full((*lead, 1), total)), -1)
    sizes = edges.diff(dim=-1)
    sizes[..., 1] += sizes[..., 2]  # an empty block next to a large one, in every head
    sizes[..., 2] = 0
    return sizes


def test_from_sizes_masks_density_and_token_mask():
    mask = torch.tensor([[[[True, False, True], [False, False, False]]]])
    layout = VarBlockLayout.from_sizes(mask, torch.tensor([3, 2]), torch.tensor([1, 0, 4]))
    assert torch.equal(layout.to_mask(), mask)
    assert layout.q_offsets.tolist() == [[[0, 3, 5]]]
    assert layout.k_offsets.tolist() == [[[0, 1, 1, 5]]]
    assert (layout.q_len, layout.kv_len) == (5, 5)
    assert layout.density() == pytest.approx(3 * 5 / 25)
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[:3] = True
    assert torch.equal(layout.to_token_mask()[0, 0], expected)
    assert "VarBlockLayout(batch=1, heads=1, q_len=5, kv_len=5, blocks=(2x3)" in repr(layout)


def test_from_block_layout_keeps_mask_token_mask_and_density():
    gen = torch.Generator().manual_seed(0)
    fixed = random_layout(2, 3, 300, 200, 64, 32, 0.4, gen, empty_rows=1)
    var = VarBlockLayout.from_block_layout(fixed)
    assert torch.equal(var.to_mask(), fixed.to_mask())
    assert torch.equal(var.to_token_mask(), fixed.to_token_mask())
    assert var.density() == pytest.approx(fixed.density())


def test_offsets_broadcast_over_batch_and_heads():
    gen = torch.Generator().manual_seed(1)
    sizes = random_sizes(gen, (1, 3), 5, 90)
    mask = torch.rand(2, 1, 5, 4, generator=gen) < 0.5
    layout = VarBlockLayout.from_sizes(mask, sizes, torch.tensor([30, 30, 0, 30]))
    assert layout.q_offsets.shape == (2, 3, 6) and layout.k_offsets.shape == (2, 3, 5)
    assert layout.kv_counts.shape == (2, 3, 5)
    assert torch.equal(layout.to_mask(), mask.expand(2, 3, 5, 4))


def test_dense_builder_covers_every_pair():
    layout = VarBlockLayout.dense(offsets_from_sizes(torch.tensor([5, 0, 7])), torch.tensor([0, 4, 12]))
    assert layout.density() == pytest.approx(1.0)
    assert layout.to_token_mask().all()


@pytest.mark.parametrize(
    "q_sizes, k_sizes, message",
    [
        pytest.param([3, -1], [2], "block sizes must be >= 0", id="negative-size"),
        pytest.param([3.0, 1.0], [2], "block sizes must be an integer tensor", id="float-sizes"),
        pytest.param([[[2, 2]], [[3, 2]]], [4], "must start at 0 and end at the same length", id="ragged"),
        pytest.param(
            [2, 2, 1], [4], r"block grid \(2, 1\) but the offsets give \(3, 1\)", id="grid-mismatch"
        ),
        pytest.param([0, 0], [4], "must cover at least one token", id="no-tokens"),
    ],
)
def test_from_sizes_rejects_bad_sizes(q_sizes, k_sizes, message):
    with pytest.raises(ValueError, match=message):
        VarBlockLayout.from_sizes(
            torch.ones(1, 1, 2, 1, dtype=torch.bool), torch.tensor(q_sizes), torch.tensor(k_sizes)
        )


def test_constructor_checks_offsets_and_indices():
    counts = torch.ones(1, 1, 2, dtype=torch.int32)
    indices = torch.zeros(1, 1, 2, 1, dtype=torch.int32)
    q_off = torch.tensor([[[0, 4, 3]]], dtype=torch.int32)
    k_off = torch.tensor([[[0, 3]]], dtype=torch.int32)
    with pytest.raises(ValueError, match="q_offsets must be non-decreasing"):
        VarBlockLayout(counts, indices, q_off, k_off)
    with pytest.raises(ValueError, match=r"kv_indices must lie in \[0, 1\)"):
        VarBlockLayout(counts, indices + 1, torch.tensor([[[0, 1, 3]]], dtype=torch.int32), k_off)
    with pytest.raises(ValueError, match="must be int32"):
        VarBlockLayout(counts, indices, q_off.long(), k_off)


def test_query_tile_table_cuts_blocks_into_tiles_per_head():
    offsets = offsets_from_sizes(torch.tensor([[[130, 0, 10]], [[5, 5, 5]]]))  # [2, 1, 4]
    blocks, rows = query_tile_table(offsets, 64)
    assert blocks.tolist() == [[[0, 0, 0, 2]], [[0, 1, 2, -1]]]
    assert rows.tolist() == [[[0, 64, 128, 130]], [[0, 5, 10, 0]]]


def _case(b, h, sq, sk, nq, nk, bl, hl, dtype, id):
    return pytest.param(b, h, sq, sk, nq, nk, bl, hl, dtype, id=id)


# Sizes are random with an empty block in every head; a block of 100+ rows or keys spans several
# 64-row tiles and several key sub-tiles.
CASES = [
    _case(1, 2, 200, 200, 6, 8, 1, 2, torch.float32, "s200-per-head-fp32"),
    _case(2, 2, 137, 91, 4, 5, 2, 1, torch.float32, "sq137-sk91-per-batch-fp32"),
    _case(2, 2, 150, 150, 3, 3, 1, 1, torch.bfloat16, "s150-shared-bf16"),
    _case(1, 1, 67, 300, 3, 3, 1, 1, torch.float16, "sq67-sk300-big-blocks-fp16"),
]
TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2, torch.float16: 1e-2}
# Rows that read nothing take log2(0) = -inf on purpose; numpy (the interpreter) warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log2:RuntimeWarning")


def _inputs(b, h, sq, sk, nq, nk, bl, hl, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(bl, hl, nq, nk, generator=gen) < 0.5
    mask[0, 0, 0] = False  # a query block that reads nothing
    layout = VarBlockLayout.from_sizes(
        mask, random_sizes(gen, (bl, hl), nq, sq), random_sizes(gen, (bl, hl), nk, sk)
    )
    q = torch.randn(b, sq, h, 32, generator=gen).to(dtype)
    k, v = (torch.randn(b, sk, h, 32, generator=gen).to(dtype) for _ in range(2))
    return q, k, v, layout


@pytest.mark.parametrize("b, h, sq, sk, nq, nk, bl, hl, dtype", CASES)
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_var_attention_matches_reference(b, h, sq, sk, nq, nk, bl, hl, dtype, backend):
    q, k, v, layout = _inputs(b, h, sq, sk, nq, nk, bl, hl, dtype, seed=sq + nk)
    ref, ref_lse = dit_accel.block_sparse_attention(
        q.double(), k.double(), v.double(), layout, return_lse=True, backend="reference"
    )
    out, lse = dit_accel.block_sparse_attention(q, k, v, layout, return_lse=True, backend=backend)
    assert out.dtype == dtype and out.shape == q.shape
    assert rel_l2(out, ref) < TOL[dtype]
    empty = torch.isinf(ref_lse)
    assert empty.any() and torch.equal(torch.isinf(lse), empty)
    assert (out.transpose(1, 2)[empty] == 0).all()
    torch.testing.assert_close(lse[~empty], ref_lse[~empty].float(), rtol=0, atol=1e-3)
    if backend == "torch":  # the fused path (no LSE) as well
        assert rel_l2(dit_accel.block_sparse_attention(q, k, v, layout, backend="torch"), ref) < TOL[dtype]


def test_var_attention_equals_fixed_blocks_on_uniform_offsets():
    gen = torch.Generator().manual_seed(3)
    fixed = random_layout(1, 2, 250, 250, 64, 64, 0.5, gen)
    q, k, v = (torch.randn(1, 250, 2, 32, generator=gen) for _ in range(3))
    out = dit_accel.block_sparse_attention(q, k, v, VarBlockLayout.from_block_layout(fixed), backend="torch")
    torch.testing.assert_close(out, dit_accel.block_sparse_attention(q, k, v, fixed, backend="torch"))


def test_var_attention_rejects_a_layout_of_the_wrong_length():
    q = torch.randn(1, 10, 1, 16)
    layout = VarBlockLayout.dense(torch.tensor([0, 4, 9]), torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="layout is for q_len=9, kv_len=10 but q has 10 tokens"):
        dit_accel.block_sparse_attention(q, q, q, layout)
    with pytest.raises(ValueError, match="layout must be a dit_accel.BlockLayout or VarBlockLayout"):
        dit_accel.block_sparse_attention(q, q, q, "dense")
