"""Static patterns: tile order, pooling, forced text/diagonal blocks, Radial and Window masks."""

from __future__ import annotations

import math

import pytest
import torch

from dit_accel.grid import TokenGrid
from dit_accel.patterns.permutation import permute_tokens, unpermute_tokens
from dit_accel.patterns.pooling import pool_blocks, pooled_block_scores
from dit_accel.patterns.radial import frame_distance_rules, radial_block_mask
from dit_accel.patterns.text import keep_blocks, text_blocks
from dit_accel.patterns.tiles import TileOrder, tile_permutation, tile_shape
from dit_accel.patterns.window import window_block_mask

GRIDS = {
    "1x13x17": TokenGrid(1, 13, 17),
    "3x13x17+text7first": TokenGrid(3, 13, 17, text_len=7, text_first=True),
    "21x6x10+text5last": TokenGrid(21, 6, 10, text_len=5),
    "2x16x16": TokenGrid(2, 16, 16),
    "2x30x52": TokenGrid(2, 30, 52),
    "4x40x3": TokenGrid(4, 40, 3),
}


def block_extents(order: TileOrder, block: int) -> torch.Tensor:
    """Rows and cols spanned by each block's video tokens, long `[n, 2]` (0 for text-only blocks)."""
    n = order.centroids.shape[0]
    pad = n * block - order.coords.shape[0]
    coords = torch.nn.functional.pad(order.coords, (0, 0, 0, pad), value=-1).view(n, block, 3)[..., 1:]
    video = (coords[..., :1] >= 0).expand_as(coords)
    high = torch.where(video, coords, -1).amax(1)
    low = torch.where(video, coords, 1 << 30).amin(1)
    return (high - low + 1).clamp(min=0)


@pytest.mark.parametrize(
    "block, shape", [(16, (4, 4)), (32, (4, 8)), (64, (8, 8)), (128, (8, 16)), (256, (16, 16))]
)
def test_tile_shape(block, shape):
    assert tile_shape(block) == shape


@pytest.mark.parametrize("block", [16, 64])
@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_tile_permutation_round_trip(grid, block):
    perm = tile_permutation(grid, block)
    assert perm.shape == (1, grid.seq_len, 1)
    assert torch.equal(perm.flatten().sort().values, torch.arange(grid.seq_len))
    text = torch.arange(grid.seq_len)[grid.text_slice]
    assert torch.equal(perm[0, grid.text_slice, 0], text)
    x = torch.randn(2, grid.seq_len, 3, 4)
    assert torch.equal(unpermute_tokens(permute_tokens(x, perm), perm), x)


@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_token_coords_name_the_source_token(grid):
    order = TileOrder.build(grid, 64)
    source = order.permutation[0, :, 0]
    video = order.coords[:, 0] >= 0
    f, h, w = order.coords[video].unbind(-1)
    index = grid.video_start + (f * grid.height + h) * grid.width + w
    assert torch.equal(index, source[video])
    assert torch.equal(source[~video], torch.arange(grid.seq_len)[grid.text_slice])


def test_divisible_grid_blocks_are_exact_tiles():
    grid = TokenGrid(2, 16, 16)
    order = TileOrder.build(grid, 64)
    blocks = order.coords.view(-1, 64, 3)
    assert (blocks[..., 0] == blocks[:, :1, 0]).all()  # one frame per block
    assert (block_extents(order, 64) == 8).all()
    rows_cols = order.centroids[:, 1:]
    assert set(rows_cols.flatten().tolist()) == {3.5, 11.5}
    assert torch.equal(order.frame_lo, order.frame_hi)


@pytest.mark.parametrize("block", [16, 64, 128])
@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_tile_blocks_are_compact(grid, block):
    """No block is a long raster run: it spans at most about three tile sides in each direction."""
    order = TileOrder.build(grid, block)
    limit = 3 * max(tile_shape(block))
    assert block_extents(order, block).max() <= limit


def test_tile_blocks_beat_raster_on_wan_frames():
    grid = TokenGrid(3, 30, 52)
    order = TileOrder.build(grid, 64)
    tile_area = block_extents(order, 64).prod(-1).float().mean()
    assert tile_area < 1.25 * 64  # raster runs of 64 tokens span 2 rows x 52 cols = 104
    assert (order.frame_hi - order.frame_lo).max() == 1


def test_pool_blocks_averages_real_tokens_of_tail_block():
    x = torch.randn(2, 10, 3, 5, dtype=torch.bfloat16)
    pooled = pool_blocks(x, 4)
    assert pooled.shape == (2, 3, 3, 5) and pooled.dtype == torch.float32
    expected = torch.stack([x[:, :4].float().mean(1), x[:, 4:8].float().mean(1), x[:, 8:].float().mean(1)], 2)
    torch.testing.assert_close(pooled, expected)


def test_pool_blocks_in_a_token_order_equals_pooling_the_permuted_copy():
    g = torch.Generator().manual_seed(0)
    x, order = torch.randn(2, 10, 3, 5, generator=g), torch.randperm(10, generator=g)
    pooled = pool_blocks(x, 4, order)
    torch.testing.assert_close(pooled, pool_blocks(x.index_select(1, order), 4))
    expected = torch.stack([x[:, order[:4]].mean(1), x[:, order[4:8]].mean(1), x[:, order[8:]].mean(1)], 2)
    torch.testing.assert_close(pooled, expected)
    q, k = torch.randn(2, 10, 3, 8, generator=g), torch.randn(2, 10, 3, 8, generator=g)
    torch.testing.assert_close(
        pooled_block_scores(q, k, 4, order), pooled_block_scores(q[:, order], k[:, order], 4)
    )


def test_pooled_block_scores_weigh_key_blocks_by_their_token_count():
    q, k = torch.randn(2, 10, 3, 8), torch.randn(2, 10, 3, 8)
    scores = pooled_block_scores(q, k, 4)
    assert scores.shape == (2, 3, 3, 3)
    logits = pool_blocks(q, 4) @ pool_blocks(k, 4).transpose(-1, -2) / math.sqrt(8)
    expected = torch.softmax(logits + torch.tensor([4.0, 4.0, 2.0]).log(), dim=-1)
    torch.testing.assert_close(scores, expected)
    torch.testing.assert_close(scores.sum(-1), torch.ones(2, 3, 3))


@pytest.mark.parametrize(
    "grid, expected_text",
    [
        (TokenGrid(1, 4, 4, text_len=5, text_first=True), [True, False, False]),
        (TokenGrid(1, 4, 4, text_len=5), [False, False, True]),
        (TokenGrid(1, 4, 4, text_len=9, text_first=True), [True, True, False, False]),
        (TokenGrid(1, 4, 4), [False, False]),
    ],
    ids=["text5first", "text5last", "text9first", "no-text"],
)
def test_keep_blocks_force_text_rows_cols_and_diagonal(grid, expected_text):
    text = torch.tensor(expected_text)
    assert torch.equal(text_blocks(grid, 8), text)
    keep = keep_blocks(grid, 8)
    n = len(expected_text)
    expected = torch.eye(n, dtype=torch.bool) | text.view(1, n) | text.view(n, 1)
    assert torch.equal(keep, expected.view(1, 1, n, n))


def frame_blocks(frames: int, per_frame: int, pairs: torch.Tensor) -> torch.Tensor:
    """Expand a [frames, frames] frame-pair mask into a block mask with `per_frame` blocks per frame."""
    return pairs.repeat_interleave(per_frame, 0).repeat_interleave(per_frame, 1)


def test_radial_rules_read_the_reference_band_and_thin_far_frames():
    grid = TokenGrid(8, 32, 64)  # 2048 tokens per frame, P = 4096
    blocks, kept = frame_distance_rules(grid, 64, decay=0.5, dense_frames=1)
    assert blocks[:2] == [math.inf, math.inf]
    # d = 2..3: w = 0.5 * 4096 / 4 = 1024 - 1024 ** 2 / 2048 ... as keys: 2 w - w^2 / T + 64 / 3.
    assert blocks[2] == blocks[3] == pytest.approx((1024 - 128 + 64 / 3) / 64)
    assert blocks[4:] == pytest.approx([(512 - 32 + 64 / 3) / 64] * 4)  # w halves at d = 4..7
    assert all(kept)
    # 64 tokens per frame: the band is the whole frame, and only distances 2, 4, 8, ... survive.
    blocks, kept = frame_distance_rules(TokenGrid(40, 8, 8), 64, decay=0.2, dense_frames=1)
    assert [d for d in range(40) if kept[d]] == [0, 1, 2, 4, 8, 16, 32]
    assert all(b == math.inf for b in blocks)
    blocks, kept = frame_distance_rules(TokenGrid(40, 8, 8), 64, decay=math.inf, dense_frames=1)
    assert all(kept) and all(b == math.inf for b in blocks)


def test_radial_mask_reads_the_nearest_key_blocks_of_each_frame():
    grid = TokenGrid(6, 24, 32)  # 12 tiles of 8 x 8 per frame
    order = TileOrder.build(grid, 64)
    blocks, _ = frame_distance_rules(grid, 64, decay=0.2, dense_frames=1)
    mask = radial_block_mask(order, grid, 64, decay=0.2, sink=False)
    frame = order.frame_lo
    plane = order.centroids[:, 1:]
    for q in range(mask.shape[0]):
        for f in range(grid.frames):
            d = abs(f - int(frame[q]))
            keys = (frame == f).nonzero().flatten()
            read = mask[q, keys]
            if d <= 1:
                assert read.all()
                continue
            assert int(read.sum()) in (math.floor(blocks[d]), math.ceil(blocks[d]))
            dist = (plane[keys] - plane[q]).norm(dim=-1)
            assert dist[read].max() <= dist[~read].min() + 1e-6  # the nearest ones
    # The mean count is the fractional rule's.
    far = (frame.view(-1, 1) - frame.view(1, -1)).abs() == 2
    assert mask[far].sum() / far.sum() * 12 == pytest.approx(blocks[2], rel=0.05)
    sink = radial_block_mask(order, grid, 64, decay=0.2, sink=True)
    assert sink[:, frame == 0].all() and torch.equal(sink[:, frame != 0], mask[:, frame != 0])


def test_radial_mask_is_dense_for_one_and_two_frames():
    for frames in (1, 2):
        grid = TokenGrid(frames, 13, 17)
        order = TileOrder.build(grid, 16)
        assert radial_block_mask(order, grid, 16, decay=0.01, sink=False).all()


def test_radial_keeps_a_key_block_in_every_kept_frame():
    grid = TokenGrid(6, 13, 17)
    order = TileOrder.build(grid, 64)
    mask = radial_block_mask(order, grid, 64, decay=0.3, sink=False)  # d = 2..3: 66 tokens
    single = order.frame_lo == order.frame_hi
    for f in range(grid.frames - 2):
        rows = single & (order.frame_lo == f)
        cols = single & (order.frame_lo == f + 2)
        assert mask[rows][:, cols].any(-1).all()


def test_radial_work_grows_like_n_log_n():
    # As the reference's band floor (one block each side), every distance is read until the thinning
    # starts (d >= 8 here); from there each doubling of the distance adds the same work.
    work = []
    for frames in (32, 64, 128):
        grid = TokenGrid(frames, 16, 16)
        order = TileOrder.build(grid, 64)
        work.append(radial_block_mask(order, grid, 64, decay=0.2, sink=False).sum().item())
    ratios = [work[1] / work[0], work[2] / work[1]]
    assert all(2.0 < r < 2.7 for r in ratios), ratios  # dense would give 4
    assert ratios[1] < ratios[0]


def test_window_covers_expected_tiles():
    grid = TokenGrid(4, 16, 16)  # 2x2 tiles per frame
    order = TileOrder.build(grid, 64)
    frame = order.frame_lo
    same_tile = (order.centroids[:, 1:].unsqueeze(1) == order.centroids[:, 1:].unsqueeze(0)).all(-1)
    same_frame = frame.view(-1, 1) == frame.view(1, -1)
    assert torch.equal(window_block_mask(order, grid, (1, 8, 8)), torch.eye(16, dtype=torch.bool))
    assert torch.equal(window_block_mask(order, grid, (1, 16, 16)), same_frame)
    # 3 frames: centred on frames 1 and 2, shifted inward at frames 0 and 3.
    window_frames = torch.tensor([[0, 1, 2], [0, 1, 2], [1, 2, 3], [1, 2, 3]])
    key_in_window = (frame.view(1, -1, 1) == window_frames[frame].unsqueeze(1)).any(-1)
    assert torch.equal(window_block_mask(order, grid, (3, 8, 8)), same_tile & key_in_window)
    assert window_block_mask(order, grid, (4, 16, 16)).all()


def test_window_shifts_inward_at_the_edges():
    grid = TokenGrid(1, 8, 32)  # one row of 4 tiles
    order = TileOrder.build(grid, 64)
    col = (order.centroids[:, 2] // 8).long()
    mask = window_block_mask(order, grid, (1, 8, 24))
    reads = {c: sorted(col[mask[i]].tolist()) for i, c in enumerate(col.tolist())}
    assert reads == {0: [0, 1, 2], 1: [0, 1, 2], 2: [1, 2, 3], 3: [1, 2, 3]}
