"""Adaptive and Reordered: what they select, their permutations, k-means, and bad input."""

import pytest
import torch

from dit_accel import TokenGrid
from dit_accel.kernels.block_mass import block_attention_mass
from dit_accel.methods import Adaptive, Reordered
from dit_accel.patterns.axes import AXIS_ORDERS, axis_permutation
from dit_accel.patterns.kmeans import kmeans
from dit_accel.patterns.permutation import invert_permutation
from dit_accel.patterns.text import keep_blocks
from dit_accel.quality.synthetic import synthetic_attention

GRID = TokenGrid(4, 8, 16, text_len=16)  # 528 tokens, 17 blocks of 32


@pytest.fixture(scope="module")
def data():
    return synthetic_attention(GRID, heads_per_type=1, seed=3)


def test_adaptive_keeps_the_fewest_blocks_holding_the_mass(data):
    plan = Adaptive(mass=0.8, block_size=32).plan(data.q, data.k, GRID)
    exact = block_attention_mass(data.q, data.k, 32, 32, backend="reference")[0]  # [H, n, n]
    mask = plan.layout.to_mask()[0]
    keep = keep_blocks(GRID, 32)[0, 0].expand_as(mask)
    assert torch.all(mask[keep])
    kept = (exact * mask).sum(-1)
    assert torch.all(kept >= 0.8 - 1e-6)
    # Dropping the lightest freely chosen block of any row that has one falls below the mass.
    free = mask & ~keep
    lightest = torch.where(free, exact, torch.inf).amin(-1)
    has_free = free.any(-1)
    assert torch.all(kept[has_free] - lightest[has_free] < 0.8)


def test_adaptive_budgets_follow_each_head():
    g = torch.Generator().manual_seed(0)
    grid = TokenGrid(2, 8, 16)
    k = torch.randn(1, 256, 2, 32, generator=g)
    q = torch.stack((torch.zeros(256, 32), k[0, :, 1] * 3.0), dim=1).unsqueeze(0)  # head 0 uniform
    plan = Adaptive(mass=0.9, block_size=32).plan(q, k, grid)
    density = plan.head_density
    assert density[0] > 0.85 and density[1] < 0.3


def test_adaptive_layout_is_per_batch_sample(data):
    q = torch.cat((data.q, data.q.roll(5, dims=2)))
    k = torch.cat((data.k, data.k.roll(5, dims=2)))
    method = Adaptive(mass=0.8, block_size=32)
    layout = method.plan(q, k, GRID).layout
    assert layout.batch == 2
    first = method.plan(q[1:], k[1:], GRID).layout
    assert torch.equal(layout.to_mask()[1:], first.to_mask())
    assert not torch.equal(layout.to_mask()[0], layout.to_mask()[1])


def test_axis_permutation_reads_the_video_in_the_given_order():
    grid = TokenGrid(3, 4, 5, text_len=7, text_first=True)
    perm = axis_permutation(grid, "hwf")
    f, h, w = 2, 1, 3
    assert perm[grid.video_start + (h * 5 + w) * 3 + f] == grid.video_start + f * 20 + h * 5 + w
    assert torch.equal(perm[grid.text_slice], torch.arange(7))
    assert torch.equal(axis_permutation(grid, "fhw"), torch.arange(grid.seq_len))


def _assert_valid(perm, grid, batch, heads):
    assert perm.shape == (batch, grid.seq_len, heads)
    assert torch.equal(perm.sort(1).values, torch.arange(grid.seq_len).view(1, -1, 1).expand_as(perm))
    text = torch.arange(grid.seq_len)[grid.text_slice].view(1, -1, 1)
    assert torch.equal(perm[:, grid.text_slice], text.expand(batch, -1, heads))


@pytest.mark.parametrize("order", ["axes", "semantic"])
def test_permutation_is_per_head_and_keeps_text_in_place(data, order):
    plan = Reordered(order, density=0.3, block_size=32).plan(data.q, data.k, GRID)
    _assert_valid(plan.permutation, GRID, 1, 3)
    if order == "semantic":
        _assert_valid(plan.key_permutation, GRID, 1, 3)
        assert not torch.equal(plan.key_permutation, plan.permutation)


def test_axes_puts_each_place_of_a_temporal_head_in_one_block(data):
    plan = Reordered("axes", density=0.2, block_size=32).plan(data.q, data.k, GRID)
    temporal = data.head_types.index("temporal")
    assert AXIS_ORDERS[int(plan.state["axis_order"][0, temporal])] != "fhw"
    position = invert_permutation(plan.permutation)[0, GRID.video_slice, temporal]
    blocks = (position // 32).view(GRID.frames, GRID.height, GRID.width)
    # All frames of (nearly) every (h, w) place now fall into one block.
    assert (blocks.amax(0) == blocks.amin(0)).float().mean() > 0.9


def _blocks_per_segment(segments: torch.Tensor, order: torch.Tensor, block: int) -> int:
    """Sum over segments of the number of blocks holding any of its tokens, tokens read in `order`."""
    seq = torch.nn.functional.pad(segments[order], (0, -len(order) % block), value=-1).view(-1, block)
    return sum(int((seq == s).any(1).sum()) for s in segments.unique() if s >= 0)


def test_semantic_order_gathers_segments_into_few_blocks(data):
    plan = Reordered("semantic", density=0.2, block_size=32).plan(data.q, data.k, GRID)
    head = data.head_types.index("semantic")
    segments = torch.full((GRID.seq_len,), -1)
    segments[GRID.video_slice] = data.segments[0]
    natural = _blocks_per_segment(segments, torch.arange(GRID.seq_len), 32)
    assert _blocks_per_segment(segments, plan.permutation[0, :, head], 32) < 0.6 * natural


def test_kmeans_recovers_separated_clusters_and_warm_starts():
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(2, 4, 8, generator=g) * 10
    truth = torch.randint(0, 4, (2, 300), generator=g)
    x = centres.gather(1, truth.unsqueeze(-1).expand(-1, -1, 8)) + torch.randn(2, 300, 8, generator=g) * 0.1
    found, labels = kmeans(x, 4, iters=10, init=centres + 0.5)
    assert torch.equal(labels, truth)
    assert torch.allclose(found, centres, atol=0.1)
    same, _ = kmeans(x, 4, iters=0, init=found)
    assert torch.equal(same, found)


def test_semantic_warm_start_reuses_the_previous_centroids(data):
    method = Reordered("semantic", density=0.3, block_size=32, warm_iters=0)
    first = method.plan(data.q, data.k, GRID)
    second = method.plan(data.q, data.k, GRID, previous=first)
    for name, count in (("k", 32), ("q", 16)):
        assert first.state["centroids"][name].shape == (1, 3, count, 64)
        assert torch.equal(second.state["centroids"][name], first.state["centroids"][name])
    other = Reordered("semantic", density=0.3, block_size=32, k_clusters=5).plan(data.q, data.k, GRID, first)
    assert other.state["centroids"]["k"].shape == (1, 3, 5, 64)  # shape changed: cold start


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Adaptive(mass=0), r"mass must be a number in \(0, 1\]"),
        (lambda: Adaptive(mass=1.5), r"mass must be a number in \(0, 1\]"),
        (lambda: Adaptive(mass="0.9"), r"mass must be a number in \(0, 1\]"),
        (lambda: Adaptive(block_size=48), "block_size must be one of 16, 32, 64, 128, 256"),
        (lambda: Reordered("pca"), "order must be one of 'axes', 'semantic', got 'pca'"),
        (lambda: Reordered(density=0.0), r"density must be a number in \(0, 1\]"),
        (lambda: Reordered(density=1.2), r"density must be a number in \(0, 1\]"),
        (lambda: Reordered(mass=-0.1), r"mass must be a number in \(0, 1\]"),
        (lambda: Reordered(density=0.2, mass=0.9), "give exactly one of density= and mass="),
        (lambda: Reordered("semantic", k_clusters=0), "k_clusters must be an integer >= 1 or None"),
        (lambda: Reordered("semantic", min_cluster=0), "min_cluster must be an integer >= 1"),
        (lambda: Reordered("semantic", iters=0), "iters must be an integer >= 1"),
        (lambda: Reordered("semantic", warm_iters=-1), "warm_iters must be an integer >= 0"),
        (lambda: axis_permutation(GRID, "ffw"), "order must be one of fhw, fwh, hfw, hwf, wfh, whf"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_bad_options_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "method", [Adaptive(), Reordered("axes"), Reordered("semantic")], ids=["adaptive", "axes", "semantic"]
)
def test_grid_that_does_not_match_the_sequence_raises(method):
    q = torch.randn(1, 100, 2, 16)
    with pytest.raises(ValueError, match="describes 96 tokens .* but the sequence has 100"):
        method.plan(q, q, TokenGrid(2, 4, 12))
