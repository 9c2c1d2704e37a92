"""Semantic reordering with cluster-sized blocks: the cluster patterns, the plan, and the comparison
with Sparse VideoGen 2's own selection (`dit_accel.quality.references.svg2_layout`)."""

import pytest
import torch

from dit_accel import TokenGrid, VarBlockLayout
from dit_accel.methods import Plan, Reordered
from dit_accel.patterns import kmeans as kmeans_module
from dit_accel.patterns.clusters import (
    block_offsets,
    cluster_scores,
    cluster_sort,
    merge_small_clusters,
    own_clusters,
    select_clusters,
)
from dit_accel.patterns.kmeans import assign, update
from dit_accel.patterns.permutation import permute_tokens
from dit_accel.quality.bench import reference_attention
from dit_accel.quality.papers import svg2_comparison
from dit_accel.quality.references import svg2_layout
from dit_accel.quality.synthetic import synthetic_attention
from tests.helpers import rel_l2

GRID = TokenGrid(4, 12, 16)  # 768 tokens


@pytest.fixture(scope="module")
def data():
    return synthetic_attention(GRID, heads_per_type=1, seed=5)


def test_cluster_sort_and_offsets_put_text_in_its_own_block():
    grid = TokenGrid(1, 2, 3, text_len=2, text_first=True)
    labels = torch.tensor([[1, 0, 1, 2, 0, 1]])
    perm = cluster_sort(grid, labels)[0]
    assert perm.tolist() == [0, 1, 3, 6, 2, 4, 7, 5]  # text in place, clusters 0, 1, 2 in raster order
    sizes = torch.tensor([[2, 3, 1]])
    assert block_offsets(grid, sizes).tolist() == [[0, 2, 4, 7, 8]]
    assert block_offsets(TokenGrid(1, 2, 3, text_len=2), sizes).tolist() == [[0, 2, 5, 6, 8]]


@pytest.mark.parametrize("piece_bytes", [4 * 5 * 4, 4 * 5 * 1000, 2**30])  # 4 rows, 1000 rows, all heads
def test_assign_matches_the_nearest_centroid_in_every_piece(monkeypatch, piece_bytes):
    monkeypatch.setattr(kmeans_module, "_CPU_PIECE_BYTES", piece_bytes)
    g = torch.Generator().manual_seed(0)
    x, centroids = torch.randn(3, 301, 8, generator=g), torch.randn(3, 5, 8, generator=g)
    assert torch.equal(assign(x, centroids), torch.cdist(x, centroids).argmin(-1))


def test_update_takes_each_cluster_mean_and_keeps_empty_clusters():
    x = torch.tensor([[[0.0], [2.0], [10.0]], [[1.0], [3.0], [5.0]]])
    labels = torch.tensor([[0, 0, 2], [1, 1, 1]])
    centroids = torch.tensor([[[7.0], [8.0], [9.0]], [[4.0], [6.0], [-1.0]]])
    assert update(x, labels, centroids).flatten().tolist() == [1.0, 8.0, 10.0, 4.0, 3.0, -1.0]


def test_merge_assigns_only_the_small_clusters_points_in_every_head():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 200, 6, generator=g)
    centroids = torch.randn(4, 12, 6, generator=g)
    labels = assign(x, centroids)
    sizes = torch.stack([torch.bincount(row, minlength=12) for row in labels])
    small = sizes < 20
    assert small.any() and (~small).any()
    far = centroids.masked_fill(small.unsqueeze(-1), 1e18)
    expected = torch.where(small.gather(1, labels), torch.cdist(x, far).argmin(-1), labels)
    assert torch.equal(merge_small_clusters(x, labels, centroids, 20), expected)


def test_small_clusters_merge_into_the_nearest_large_one():
    x = torch.tensor([[[0.0], [0.1], [0.2], [5.0], [9.0], [9.1], [9.2]]])
    centroids = torch.tensor([[[0.1], [5.0], [9.1]]])
    labels = torch.tensor([[0, 0, 0, 1, 2, 2, 2]])
    assert merge_small_clusters(x, labels, centroids, 2).tolist() == [[0, 0, 0, 2, 2, 2, 2]]
    assert torch.equal(merge_small_clusters(x, labels, centroids, 1), labels)
    assert torch.equal(merge_small_clusters(x, labels, centroids, 10), labels)  # all small: unchanged


def test_cluster_scores_weigh_key_clusters_by_size():
    q = torch.ones(1, 1, 2)
    k = torch.ones(1, 3, 2)
    scores = cluster_scores(q, k, torch.tensor([[3, 1, 0]]))
    torch.testing.assert_close(scores, torch.tensor([[[0.75, 0.25, 0.0]]]))


def test_own_clusters_pick_the_key_cluster_holding_most_of_the_query_cluster():
    q_labels = torch.tensor([[0, 0, 0, 1, 1]])
    k_labels = torch.tensor([[2, 2, 0, 1, 1]])
    assert own_clusters(q_labels, k_labels, 2, 3).tolist() == [[[False, False, True], [False, True, False]]]


def test_density_budget_is_shared_so_spread_heads_get_more():
    # Head 0 attends to one key cluster, head 1 evenly to all four.
    scores = torch.tensor([[[0.97, 0.01, 0.01, 0.01]], [[0.25, 0.25, 0.25, 0.25]]])
    sizes = torch.full((2, 4), 10)
    keep = torch.zeros(2, 1, 4, dtype=torch.bool)
    mask = select_clusters(scores, torch.full((2, 1), 40), sizes, keep, density=0.5)
    assert mask.sum().item() == 4  # half of all pairs
    assert mask[0, 0].tolist() == [True, False, False, False] and mask[1, 0].sum() == 3
    keep[0, 0, 3] = True
    assert select_clusters(scores, torch.full((2, 1), 40), sizes, keep, density=0.01)[0, 0, 3]
    by_mass = select_clusters(scores, torch.full((2, 1), 40), sizes, keep & False, mass=0.9)
    assert by_mass[0, 0].tolist() == [True, False, False, False] and by_mass[1, 0].all()
    with pytest.raises(ValueError, match="give exactly one of density= and mass="):
        select_clusters(scores, torch.full((2, 1), 40), sizes, keep)


def test_semantic_plan_makes_one_block_per_cluster(data):
    plan = Reordered("semantic", density=0.2, block_size=32, min_cluster=4).plan(data.q, data.k, GRID)
    layout = plan.layout
    assert isinstance(layout, VarBlockLayout)
    assert (layout.num_q_blocks, layout.num_kv_blocks) == (24, 48)
    assert layout.density() == pytest.approx(0.2, abs=0.02)
    # Every block holds the tokens of one cluster: the tokens of a query block are nearer their own
    # cluster's centroid than any other cluster's.
    q_sorted = permute_tokens(data.q, plan.permutation)[0, :, 0]  # head 0, [S, D]
    offsets = layout.q_offsets[0, 0]
    centroids = plan.state["centroids"]["q"][0, 0]
    nearest = torch.cdist(q_sorted, centroids).argmin(-1)
    for i in range(layout.num_q_blocks):
        block = nearest[offsets[i] : offsets[i + 1]]
        if block.numel():
            assert (block == block[0]).float().mean() > 0.9


def _svg2_plan(q, k, grid, top_p, min_kc_ratio):
    layout, q_perm, k_perm = svg2_layout(q, k, grid, 12, 40, top_p=top_p, min_kc_ratio=min_kc_ratio, iters=20)
    return Plan(layout=layout, grid=grid, permutation=q_perm, key_permutation=k_perm)


def test_svg2_reference_keeps_clusters_up_to_top_p_and_at_least_min_share(data):
    plan = _svg2_plan(data.q, data.k, GRID, 0.5, 0.1)
    counts = plan.layout.kv_counts
    assert counts.min() >= 4  # 10% of 40 key clusters
    wide = _svg2_plan(data.q, data.k, GRID, 0.99, 0.0).layout.kv_counts
    assert 4 < wide.float().mean() < 40 and wide.min() >= 1
    assert _svg2_plan(data.q, data.k, GRID, 1.0, 0.0).layout.density() == pytest.approx(1.0)


@pytest.mark.parametrize("top_p, min_kc_ratio", [(0.9, 0.1), (0.7, 0.0), (0.95, 0.0)])
def test_error_at_equal_density_is_below_svg2(data, top_p, min_kc_ratio):
    ref = reference_attention(data.q, data.k, data.v)
    svg2 = _svg2_plan(data.q, data.k, GRID, top_p, min_kc_ratio)
    ours = Reordered("semantic", density=round(svg2.density, 4), block_size=32).plan(data.q, data.k, GRID)
    assert ours.density == pytest.approx(svg2.density, rel=0.1)
    assert rel_l2(ours.run(data.q, data.k, data.v), ref) < rel_l2(svg2.run(data.q, data.k, data.v), ref)


def test_svg2_comparison_puts_ours_at_svg2s_density(data):
    (row,) = svg2_comparison(data, ((0.9, 0.1),))
    assert row["setting"] == "top_p=0.9, min_kc_ratio=0.1"
    assert row["ours_density"] == pytest.approx(row["density"], rel=0.1)
    assert row["ours_error"] < row["svg2_error"]
