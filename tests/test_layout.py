import pytest
import torch

from dit_accel import BlockLayout


def test_from_mask_round_trip_and_csr_order():
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(2, 3, 5, 7, generator=g) < 0.4
    layout = BlockLayout.from_mask(mask, q_len=300, kv_len=420, block_q=64, block_k=64)
    assert torch.equal(layout.to_mask(), mask)
    assert torch.equal(layout.kv_counts, mask.sum(-1).int())
    for b, h, i in [(0, 0, 0), (1, 2, 4), (0, 1, 3)]:
        expected = mask[b, h, i].nonzero().flatten().int()
        assert torch.equal(layout.kv_indices[b, h, i, : len(expected)], expected)


def test_density_counts_tail_blocks_by_their_real_size():
    # q_len 100 with block 64 -> blocks of 64 and 36 rows; kv_len 80 -> key blocks of 64 and 16.
    mask = torch.tensor([[[[True, False], [False, True]]]])
    layout = BlockLayout.from_mask(mask, q_len=100, kv_len=80, block_q=64, block_k=64)
    assert layout.density() == pytest.approx((64 * 64 + 36 * 16) / (100 * 80))
    assert BlockLayout.dense(100, 80, 64, 64).density() == pytest.approx(1.0)


def test_head_density_and_token_mask():
    mask = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    mask[0, 0] = True
    mask[0, 1, 0, 0] = True
    layout = BlockLayout.from_mask(mask, 32, 32, 16, 16)
    assert layout.head_density().tolist() == [[1.0, 0.25]]
    tokens = layout.to_token_mask()
    assert tokens.shape == (1, 2, 32, 32)
    assert int(tokens[0, 1].sum()) == 16 * 16


def test_dense_builder_shapes():
    layout = BlockLayout.dense(1000, 333, block_q=128, block_k=64, heads=4, batch=2)
    assert layout.kv_counts.shape == (2, 4, 8)
    assert layout.kv_indices.shape == (2, 4, 8, 6)
    assert layout.kv_counts.dtype == torch.int32
    assert layout.to_mask().all()


def test_repr_is_readable():
    text = repr(BlockLayout.dense(256, 256, 64, 64, heads=2))
    assert "BlockLayout(batch=1, heads=2, q_len=256, kv_len=256" in text
    assert "density=1.000" in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"block_q": 48}, "block_q must be a positive power of two", id="block-q-not-pow2"),
        pytest.param({"block_k": 0}, "block_k must be a positive power of two", id="block-k-zero"),
        pytest.param({"q_len": 0}, "q_len must be a positive integer", id="q-len-zero"),
        pytest.param({"kv_len": 1000}, r"block grid \(4, 4\) .* need \(4, 16\)", id="grid-mismatch"),
    ],
)
def test_from_mask_rejects_bad_arguments(kwargs, message):
    args = {"q_len": 256, "kv_len": 256, "block_q": 64, "block_k": 64, **kwargs}
    with pytest.raises(ValueError, match=message):
        BlockLayout.from_mask(torch.ones(1, 1, 4, 4, dtype=torch.bool), **args)


def test_from_mask_rejects_non_bool_and_wrong_rank():
    with pytest.raises(ValueError, match="block_mask must be a bool tensor"):
        BlockLayout.from_mask(torch.ones(1, 1, 4, 4), 256, 256, 64, 64)
    with pytest.raises(ValueError, match="block_mask must have 4 dims"):
        BlockLayout.from_mask(torch.ones(4, 4, dtype=torch.bool), 256, 256, 64, 64)


def test_constructor_rejects_wrong_dtype_and_shapes():
    counts = torch.ones(1, 1, 4, dtype=torch.int32)
    with pytest.raises(ValueError, match="must be int32"):
        BlockLayout(counts, torch.zeros(1, 1, 4, 1, dtype=torch.int64), 256, 256, 64, 64)
    with pytest.raises(ValueError, match="kv_indices leading shape"):
        BlockLayout(counts, torch.zeros(1, 1, 3, 1, dtype=torch.int32), 256, 256, 64, 64)
    with pytest.raises(ValueError, match="kv_counts has 4 query blocks but q_len=100"):
        BlockLayout(counts, torch.zeros(1, 1, 4, 1, dtype=torch.int32), 100, 256, 64, 64)


def test_constructor_rejects_indices_and_counts_out_of_range():
    counts = torch.ones(1, 1, 4, dtype=torch.int32)
    with pytest.raises(ValueError, match=r"kv_indices must lie in \[0, 4\) for kv_len=256"):
        BlockLayout(counts, torch.full((1, 1, 4, 1), 4, dtype=torch.int32), 256, 256, 64, 64)
    with pytest.raises(ValueError, match=r"kv_counts must lie in \[0, 1\]"):
        BlockLayout(counts * 2, torch.zeros(1, 1, 4, 1, dtype=torch.int32), 256, 256, 64, 64)
