"""Pipeline benchmark pieces: density matching, the random-weight model and its bf16 cast, a measured case."""

from __future__ import annotations

import json

import pytest
import torch

from dit_accel.grid import TokenGrid
from dit_accel.methods import Radial
from dit_accel.results import write_result
from dit_accel.speed.pipeline import measure, pipeline_table
from dit_accel.speed.pipeline_cases import WAN21_TINY, ModelCase, build_transformer, make_inputs
from dit_accel.speed.pipeline_settings import match_density, method_settings, static_density
from tests.helpers import rel_l2

CPU = torch.device("cpu")
TINY = WAN21_TINY


# Radial reads at least a block on each side at every frame distance (as the reference), so at 480p
# (1,560 tokens per frame) it cannot go below about 0.14 with 64-token blocks; 0.1 is the 720p case's.
@pytest.mark.parametrize(
    "target, grid",
    [(0.15, TokenGrid(21, 30, 52)), (0.1, TokenGrid(21, 45, 80))],
    ids=["480p-d0.15", "720p-d0.1"],
)
def test_matched_static_settings_land_near_the_target_on_wan_grids(target: float, grid: TokenGrid) -> None:
    matched = [s for s in method_settings(target, grid, CPU) if s.matched]
    assert [s.method for s in matched] == ["radial", "window", "draft", "reordered"]
    for setting in matched[:2]:  # the static ones: their density is known from the grid alone
        assert static_density(setting.build(), grid, CPU) == pytest.approx(target, abs=0.01), setting.label
    assert matched[2].options == {"density": target}


def test_match_density_returns_the_nearest_end_when_the_target_is_out_of_reach() -> None:
    grid = TokenGrid(9, 16, 16)
    floor = static_density(Radial(decay=1e-3), grid, CPU)
    decay, density = match_density(lambda x: Radial(decay=x), floor / 2, 1e-3, 64.0, grid, CPU)
    assert (decay, density) == (1e-3, floor)


def test_built_model_is_the_seeded_fp32_model_cast_as_from_pretrained_casts_it() -> None:
    """The benchmark's bf16 model is its fp32 model rounded (same seed, same weights; diffusers'
    fp32 modules untouched), so a bf16 forward stays within bf16 error of the fp32 one."""
    case = ModelCase("tiny", TINY, 2, (16, 3, 8, 8), text_len=4)
    full = build_transformer(case, CPU, torch.float32, layers=3)
    half = build_transformer(case, CPU, torch.bfloat16, layers=3)
    assert len(half.blocks) == 3
    keep = set(half._keep_in_fp32_modules)
    for (name, p32), (_, p16) in zip(full.named_parameters(), half.named_parameters(), strict=True):
        kept = bool(keep & set(name.split(".")))
        assert p16.dtype == (torch.float32 if kept else torch.bfloat16), name
        assert torch.equal(p16, p32.to(p16.dtype)), name
    with torch.no_grad():
        out32 = full(**make_inputs(case, CPU, torch.float32))[0]
        out16 = half(**make_inputs(case, CPU, torch.bfloat16))[0]
    assert out16.shape == out32.shape == (1, 16, 3, 8, 8)
    assert rel_l2(out16, out32) < 5e-2


def test_measure_reports_every_setting_against_stock_with_plan_densities(tmp_path) -> None:
    case = ModelCase("tiny-reduced", TINY, 2, (16, 5, 32, 32), text_len=4, reduced=True)
    result = measure((case,), device=CPU, repeats=1)
    (measured,) = result["cases"]
    assert measured["tokens"] == 5 * 16 * 16 and measured["layers"] == 2
    rows = {r["setting"]: r for r in measured["rows"]}
    stock = measured["rows"][0]
    assert stock["method"] == "stock" and stock["speedup"] == 1.0
    assert rows["dense()"]["density"] == 1.0
    # 20 blocks of 64 tokens: 3 of 20 key blocks per row (the diagonal among them)
    assert rows["draft(density=0.15)"]["density"] == pytest.approx(0.15, abs=1e-4)
    assert rows["draft()"]["density"] == pytest.approx(0.25, abs=1e-4)
    for r in measured["rows"][1:]:
        assert r["speedup"] == pytest.approx(stock["forward_ms"] / r["forward_ms"], rel=1e-2)
        assert r["plan_ms"] > 0 and r["planned"] in ("per call", "once per grid")
    table = pipeline_table(result)
    assert "REDUCED CPU SET" in table and "draft(density=0.15) *" in table
    path = write_result(result, tmp_path, stem="pipeline")
    assert path.name.startswith("pipeline-cpu")
    assert json.loads(path.read_text())["cases"][0]["name"] == case.name
