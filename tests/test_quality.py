"""The quality harness: its synthetic attention, its oracle, and the methods judged against both."""

import pytest
import torch

from dit_accel import TokenGrid
from dit_accel.methods import Adaptive, Draft, Reordered
from dit_accel.quality.bench import quality_table, reference_attention, run_quality
from dit_accel.quality.synthetic import synthetic_attention
from tests.helpers import rel_l2

DENSITY = 0.2


@pytest.fixture(scope="module")
def rows():
    """run_quality on the default grid; Adaptive's mass is the one that lands near DENSITY there."""
    candidates = {
        "adaptive": Adaptive(mass=0.75),
        "axes": Reordered("axes", density=DENSITY),
        "semantic": Reordered("semantic", density=DENSITY),
        "draft": Draft(density=DENSITY),
    }
    return {(r["method"], r["heads"]): r for r in run_quality(candidates)}


@pytest.mark.parametrize("name", ["adaptive", "axes", "semantic", "draft"])
def test_methods_run_near_the_target_density(rows, name):
    row = rows[name, "all"]
    assert 0.15 < row["density"] < 0.3
    # The oracle keeps a whole number of 64-token blocks per row: cluster-sized layouts (semantic)
    # match its density to within that rounding.
    assert abs(row["oracle_density"] - row["density"]) < (0.03 if name == "semantic" else 0.02)


def test_draft_within_1_6x_of_the_oracle(rows):
    assert rows["draft", "all"]["error"] <= 1.6 * rows["draft", "all"]["oracle_error"]


@pytest.mark.parametrize("heads", ["spatial", "temporal", "semantic", "all"])
def test_adaptive_within_1_2x_of_the_oracle(rows, heads):
    assert rows["adaptive", heads]["error"] <= 1.2 * rows["adaptive", heads]["oracle_error"]


def test_semantic_order_beats_the_natural_order_oracle_on_semantic_heads(rows):
    assert rows["semantic", "semantic"]["error"] < rows["semantic", "semantic"]["oracle_error"]


def test_axis_order_beats_the_natural_order_oracle_on_temporal_heads(rows):
    assert rows["axes", "temporal"]["error"] < 0.5 * rows["axes", "temporal"]["oracle_error"]


@pytest.mark.parametrize(
    "method",
    [
        Adaptive(mass=1.0, block_size=16),
        Reordered("axes", density=1.0, block_size=16),
        Reordered("axes", mass=1.0, block_size=16),
        Reordered("semantic", density=1.0, block_size=16),
        Reordered("semantic", mass=1.0, block_size=16),
    ],
    ids=["adaptive-mass1", "axes-density1", "axes-mass1", "semantic-density1", "semantic-mass1"],
)
def test_densest_setting_matches_dense(method):
    grid = TokenGrid(4, 8, 8, text_len=20)
    data = synthetic_attention(grid, heads_per_type=1, batch=2, seed=7)
    out = method(data.q, data.k, data.v, grid)
    assert rel_l2(out, reference_attention(data.q, data.k, data.v)) < 1e-5


def test_synthetic_attention_is_deterministic_and_structured():
    grid = TokenGrid(4, 8, 8, text_len=8)
    a, b = synthetic_attention(grid, seed=1), synthetic_attention(grid, seed=1)
    assert torch.equal(a.q, b.q) and torch.equal(a.k, b.k) and torch.equal(a.v, b.v)
    assert not torch.equal(a.q, synthetic_attention(grid, seed=2).q)
    assert a.q.shape == (1, grid.seq_len, 6, 64)
    assert a.head_types == ("spatial", "spatial", "temporal", "temporal", "semantic", "semantic")
    qv, kv = (t[0, grid.video_slice].transpose(0, 1) for t in (a.q, a.k))  # [H, L, D]
    probs = torch.softmax(qv @ kv.transpose(1, 2) / 8.0, dim=-1)  # video -> video, [H, L, L]
    coords = torch.stack(torch.meshgrid(*(torch.arange(n) for n in (4, 8, 8)), indexing="ij"), -1).view(-1, 3)
    same_place = (coords[:, None, 1:] == coords[None, :, 1:]).all(-1)
    near = (coords[:, None] - coords[None, :]).abs().amax(-1) <= 1
    same_segment = a.segments[0, :, None] == a.segments[0, None, :]

    def share(heads: list[int], mask: torch.Tensor) -> float:
        return float((probs[heads] * mask).sum(-1).mean())

    assert share([0, 1], near) > 0.7  # spatial: the 3x3x3 neighbourhood
    assert share([2, 3], same_place) > 0.7  # temporal: the same place in every frame
    assert share([4, 5], same_segment) > 0.7  # semantic: the own segment


def test_quality_table_prints_one_line_per_row():
    rows = [
        {
            "method": "m",
            "heads": h,
            "density": 0.2,
            "error": 0.1,
            "oracle_density": 0.2,
            "oracle_error": 0.05,
            "ratio": 2.0,
        }
        for h in ("spatial", "all")
    ]
    lines = quality_table(rows).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| method | heads | density")
    assert lines[3] == "| m | all | 0.200 | 0.1000 | 0.200 | 0.0500 | 2.00 |"
