"""Radial, Window and Draft: exactness at their densest, agreement with a masked dense reference,
block choice, densities, caching and error messages."""

from __future__ import annotations

import math

import pytest
import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods import Draft, Radial, Window
from dit_accel.patterns.permutation import permute_tokens, unpermute_tokens
from dit_accel.patterns.tiles import tile_permutation
from dit_accel.processors.planning import PlanningContext

GRIDS = {
    "1x13x17+text7first": TokenGrid(1, 13, 17, text_len=7, text_first=True),
    "3x8x8+text5last": TokenGrid(3, 8, 8, text_len=5),
    "21x4x4": TokenGrid(21, 4, 4),
    "4x16x16": TokenGrid(4, 16, 16),
}


def qkv(grid: TokenGrid, batch: int = 2, heads: int = 2, dim: int = 16, dtype=torch.float32):
    return [torch.randn(batch, grid.seq_len, heads, dim, dtype=dtype) for _ in range(3)]


def sdpa(q, k, v, mask=None):
    """Dense attention on [B, S, H, D] inputs; `mask` bool [B|1, H|1, S, S] (True = attend)."""
    out = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    )
    return out.transpose(1, 2)


def rel_l2(out, ref):
    return ((out.double() - ref.double()).norm() / ref.double().norm()).item()


def densest(grid: TokenGrid, block: int):
    return {
        "radial": Radial(decay=math.inf, block_size=block),
        "window": Window(window=(grid.frames, grid.height, grid.width), block_size=block),
        "draft": Draft(density=1.0, block_size=block),
    }


@pytest.mark.parametrize("method", ["radial", "window", "draft"])
@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_densest_setting_matches_dense_attention(grid, method):
    q, k, v = qkv(grid)
    m = densest(grid, 16)[method]
    plan = m.plan(q, k, grid)
    assert plan.density == pytest.approx(1.0)
    assert rel_l2(plan.run(q, k, v), sdpa(q, k, v)) < 1e-5


SPARSE = {
    "radial": lambda: Radial(decay=0.05, block_size=16),
    "radial-no-sink": lambda: Radial(decay=0.3, sink=False, block_size=16, dense_frames=0),
    "window": lambda: Window(window=(3, 8, 8), block_size=16),
    "draft": lambda: Draft(density=0.3, block_size=16),
    "draft-mass": lambda: Draft(mass=0.5, block_size=16),
    "draft-per-head": lambda: Draft(density=0.3, per_head=True, block_size=16),
}


@pytest.mark.parametrize("method", SPARSE.keys())
@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
def test_sparse_output_matches_masked_dense_reference(grid, method):
    """Plan.run (permute, block-sparse, unpermute) == dense attention under the plan's token mask."""
    q, k, v = qkv(grid)
    plan = SPARSE[method]().plan(q, k, grid)
    assert plan.density == plan.layout.density()
    perm = plan.permutation
    mask = plan.layout.to_token_mask()
    p = [permute_tokens(x.double(), perm) for x in (q, k, v)]
    ref = unpermute_tokens(sdpa(*p, mask=mask), perm)
    assert rel_l2(plan.run(q, k, v), ref) < 1e-5


def test_radial_is_dense_on_one_frame_and_on_adjacent_frames():
    for grid in (TokenGrid(1, 13, 17), TokenGrid(2, 13, 17, text_len=3)):
        q = torch.randn(1, grid.seq_len, 1, 8)
        assert Radial(decay=0.01, sink=False, block_size=16).plan(q, q, grid).density == 1.0


def test_static_plans_depend_on_the_grid_alone_and_the_bare_runtime_caches_them():
    for method in (Radial(), Window()):
        grid_a, grid_b = TokenGrid(3, 16, 16), TokenGrid(3, 16, 24)
        qa, qb = torch.randn(1, grid_a.seq_len, 2, 8), torch.randn(1, grid_b.seq_len, 2, 8)
        first = method.plan(qa, qa, grid_a)
        again = method.plan(qa.neg(), qa, grid_a)  # a pure method: same grid, same plan, whatever q is
        assert torch.equal(again.layout.to_mask(), first.layout.to_mask())
        assert torch.equal(again.permutation, first.permutation)
        assert first.layout.batch == 1 and first.layout.heads == 1
        runtime = PlanningContext()
        cached, hit = runtime.plan(None, method, qa, qa, grid_a)
        assert not hit and torch.equal(cached.layout.to_mask(), first.layout.to_mask())
        assert runtime.plan(None, method, qa.neg(), qa, grid_a) == (cached, True)
        other, hit = runtime.plan(None, method, qb, qb, grid_b)
        assert not hit and other.layout.q_len == grid_b.seq_len


def test_draft_picks_the_block_of_a_planted_key():
    grid = TokenGrid(2, 16, 16, text_len=4)
    q, k, v = qkv(grid, batch=2, heads=2)
    direction = torch.randn(16)
    q = 0.1 * q + direction
    k = 0.1 * k
    perm = tile_permutation(grid, 16)[0, :, 0]
    planted = 13  # a key block in tile order, away from the diagonal rows it is tested on
    k[:, perm[planted * 16 : planted * 16 + 16]] += direction
    for method in (Draft(density=0.1, block_size=16), Draft(density=0.15, per_head=True, block_size=16)):
        mask = method.plan(q, k, grid).layout.to_mask()
        assert mask.shape[:2] == (2, 2)
        assert mask[..., planted].all()
        assert mask.float().mean() < 0.2


def test_draft_layout_is_per_sample():
    grid = TokenGrid(3, 8, 8)
    q, k, _ = qkv(grid, batch=2)
    method = Draft(density=0.25, block_size=16)
    both = method.plan(q, k, grid).layout.to_mask()
    second = method.plan(q[1:], k[1:], grid).layout.to_mask()
    assert torch.equal(both[1:], second)
    assert not torch.equal(both[0], both[1])


@pytest.mark.parametrize("density", [0.1, 0.25, 0.5])
def test_draft_density_is_near_the_request(density):
    grid = TokenGrid(4, 16, 16)  # 64 blocks of 16 tokens, no text
    q, k, _ = qkv(grid)
    for per_head in (False, True):
        plan = Draft(density=density, per_head=per_head, block_size=16).plan(q, k, grid)
        assert plan.density == plan.layout.density()
        assert plan.density == pytest.approx(density, abs=0.02)


def test_draft_mass_keeps_more_blocks_for_more_mass():
    grid = TokenGrid(4, 16, 16)
    q, k, _ = qkv(grid)
    low, high = (Draft(mass=m, block_size=16).plan(q, k, grid).density for m in (0.3, 0.9))
    assert 0 < low < high < 1


def test_options_report_the_settings():
    assert Radial().options() == {"decay": 0.2, "sink": True, "block_size": 64, "dense_frames": 1}
    assert Window(window=[3, 16, 16], block_size=128).options() == {"window": (3, 16, 16), "block_size": 128}
    assert Draft().options() == {"density": 0.25, "mass": None, "per_head": False, "block_size": 64}
    assert Draft(mass=0.9).options()["density"] is None
    assert repr(Draft(mass=0.9, per_head=True)).startswith("Draft(density=None, mass=0.9, per_head=True")


BAD = {
    "draft-density-0": (lambda: Draft(density=0), r"density must be a number in \(0, 1\] or None, got 0"),
    "draft-density-1.5": (lambda: Draft(density=1.5), r"density must be a number in \(0, 1\]"),
    "draft-density-nan": (lambda: Draft(density=math.nan), r"density must be a number in \(0, 1\] or None"),
    "draft-density-str": (lambda: Draft(density="0.2"), r"density must be a number in \(0, 1\] or None"),
    "draft-mass-0": (lambda: Draft(mass=0.0), r"mass must be a number in \(0, 1\]"),
    "draft-both": (lambda: Draft(density=0.2, mass=0.9), "give exactly one of density= and mass="),
    "draft-per-head": (lambda: Draft(per_head=1), "per_head must be True or False"),
    "draft-block": (lambda: Draft(block_size=48), "block_size must be one of 16, 32, 64, 128, 256, got 48"),
    "radial-decay-0": (lambda: Radial(decay=0), r"decay must be a number > 0"),
    "radial-decay-nan": (lambda: Radial(decay=float("nan")), r"decay must be a number > 0 \(inf allowed\)"),
    "radial-decay-bool": (lambda: Radial(decay=True), r"decay must be a number > 0"),
    "radial-sink": (lambda: Radial(sink="yes"), "sink must be True or False"),
    "radial-dense-frames": (lambda: Radial(dense_frames=-1), "dense_frames must be an integer >= 0, got -1"),
    "radial-block": (lambda: Radial(block_size=100), "block_size must be one of"),
    "window-zero": (lambda: Window(window=(0, 8, 8)), r"window must be 3 integers >= 1, got \(0, 8, 8\)"),
    "window-2d": (lambda: Window(window=(8, 8)), r"window must be 3 integers >= 1"),
    "window-float": (lambda: Window(window=(1, 8.0, 8)), r"window must be 3 integers >= 1"),
}


@pytest.mark.parametrize("case", BAD.keys())
def test_bad_options_raise(case):
    make, match = BAD[case]
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("method", [Radial(), Window(), Draft()], ids=["radial", "window", "draft"])
def test_grid_that_does_not_match_the_sequence_raises(method):
    grid = TokenGrid(2, 8, 8)
    q = torch.randn(1, grid.seq_len + 1, 1, 8)
    with pytest.raises(ValueError, match=r"describes 128 tokens .* but the sequence has 129"):
        method.plan(q, q, grid)
