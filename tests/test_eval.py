"""Eval metrics against hand-computed values, the stock reference cache, report files, metric skipping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dit_accel.eval import metrics
from dit_accel.eval.harness import EvalConfig, ReferenceCache, Run, references, weights_fingerprint
from dit_accel.eval.metrics import LPIPS, PSNR_CAP_DB, find_weights, frame_psnr, load_metrics, psnr, ssim
from dit_accel.eval.report import results_table, write_results
from dit_accel.generate import make_items
from dit_accel.models import get_model, load_pipeline


def _video(frames: int = 3, height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)


def test_psnr_of_known_noise_is_the_formula() -> None:
    reference = np.full((2, 16, 16, 3), 128, dtype=np.uint8)
    signs = np.where(np.random.default_rng(0).random(reference.shape) < 0.5, -1, 1)
    test = (reference.astype(int) + 5 * signs).astype(np.uint8)  # every value off by exactly 5: MSE 25
    assert psnr(reference, test) == pytest.approx(20 * math.log10(255 / 5), abs=1e-9)


def test_psnr_is_the_mean_of_per_frame_values_and_identical_frames_are_capped() -> None:
    reference = np.full((2, 8, 8, 3), 100, dtype=np.uint8)
    test = reference.copy()
    test[1] += 10  # frame 0 identical, frame 1 off by 10
    per_frame = frame_psnr(reference, test)
    assert per_frame[0] == math.inf
    assert per_frame[1] == pytest.approx(20 * math.log10(255 / 10))
    assert psnr(reference, test) == pytest.approx((PSNR_CAP_DB + per_frame[1]) / 2)
    assert psnr(reference, reference) == PSNR_CAP_DB


def test_metrics_reject_mismatched_videos() -> None:
    with pytest.raises(ValueError, match="one shape"):
        psnr(_video(frames=3), _video(frames=2))


def test_ssim_is_one_for_identical_videos_and_the_luminance_term_for_flat_frames() -> None:
    video = _video()
    assert ssim(video, video) == pytest.approx(1.0, abs=1e-6)
    # Flat frames have no variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1) with C1 = 0.01^2 (data range 1).
    a, b, c1 = 102 / 255, 153 / 255, 0.01**2
    flat_a, flat_b = np.full((2, 16, 16, 3), 102, np.uint8), np.full((2, 16, 16, 3), 153, np.uint8)
    # (float32 variances of flat frames are ~1e-7, not 0: hence rel=1e-3)
    assert ssim(flat_a, flat_b) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-3)


def test_find_weights_prefers_the_given_file_then_the_environment(tmp_path, monkeypatch) -> None:
    given, env = tmp_path / "given.pth", tmp_path / "env.pth"
    env.write_bytes(b"x")
    monkeypatch.setenv("SOME_WEIGHTS", str(env))
    assert find_weights(None, "SOME_WEIGHTS", "nothing.pth")[0] == env
    given.write_bytes(b"x")
    assert find_weights(given, "SOME_WEIGHTS", "nothing.pth")[0] == given
    monkeypatch.delenv("SOME_WEIGHTS")
    path, looked = find_weights(tmp_path / "missing.pth", "SOME_WEIGHTS", "nothing.pth")
    assert path is None
    assert looked[0] == str(tmp_path / "missing.pth") and looked[-1].endswith("checkpoints/nothing.pth")


def test_missing_packages_or_weights_skip_lpips_and_fid_with_one_line_each(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name: None)
    skipped = load_metrics().skipped
    assert "torchvision" in skipped["lpips"] and "torch-fidelity" in skipped["fid"]
    # Packages present but no weights anywhere: the line names the flag and where it looked.
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv(metrics.FID_ENV, raising=False)
    monkeypatch.delenv(metrics.LPIPS_ENV, raising=False)
    loaded = load_metrics(fid_weights=tmp_path / "nope.pth")
    assert loaded.fid is None and loaded.lpips is None
    assert "--fid-weights" in loaded.skipped["fid"] and str(tmp_path / "nope.pth") in loaded.skipped["fid"]
    assert "--lpips-weights" in loaded.skipped["lpips"] and metrics.LPIPS_FILE in loaded.skipped["lpips"]
    assert all("\n" not in line for line in loaded.skipped.values())


def _alexnet_features() -> torch.nn.Sequential:
    """torchvision's AlexNet `features` layout (indices matter: LPIPS slices by them)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )  # fmt: skip


def test_lpips_loads_the_backbone_from_a_torchvision_state_dict(tmp_path, monkeypatch) -> None:
    from torchmetrics.functional.image import lpips as tm_lpips

    torch.manual_seed(0)
    features = _alexnet_features()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, tmp_path / "alexnet.pth")
    # No torchvision here: hand LPIPS a randomly initialised AlexNet; the file must overwrite it.
    monkeypatch.setattr(tm_lpips, "_get_tv_model_features", lambda net, pretrained=False: _alexnet_features())
    lpips = LPIPS(tmp_path / "alexnet.pth")
    torch.testing.assert_close(
        lpips.net.net.slice3.get_submodule("6").weight, features[6].weight, rtol=0, atol=0
    )
    video = _video(frames=2, height=64, width=64)
    assert lpips(video, video) == pytest.approx(0.0, abs=1e-6)
    assert lpips(video, _video(frames=2, height=64, width=64, seed=1)) > 0.0


def test_reference_cache_round_trip(tmp_path) -> None:
    cache = ReferenceCache(tmp_path)
    key = cache.key({"model": "m", "prompt": "p", "seed": 1})
    assert key == cache.key({"seed": 1, "prompt": "p", "model": "m"}) != cache.key({"model": "m", "seed": 2})
    assert cache.load(key) is None
    run = Run(frames=_video(), seconds=1.5, attention_s=0.5, plan_s=0.0, density=1.0)
    cache.save(key, run, {"model": "m"})
    loaded = cache.load(key)
    assert np.array_equal(loaded.frames, run.frames) and loaded.timings() == run.timings()
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_stock_references_are_computed_once_then_read_from_the_cache(tmp_path) -> None:
    spec = get_model("tiny-wan")
    pipe = load_pipeline(spec)
    config = EvalConfig(spec=spec, steps=1, guidance=5.0, identity={"model": spec.name, "dtype": "float32"})
    items = make_items([{"prompt": "a cat runs"}], seed=3, height=32, width=32, frames=5)
    cache = ReferenceCache(tmp_path)
    first, cached = references(pipe, config, items, cache, log=lambda line: None)
    assert cached == 0 and first[0].frames.shape == (5, 32, 32, 3) and first[0].density == 1.0
    again, cached = references(pipe, config, items, cache, log=lambda line: None)
    assert cached == 1 and np.array_equal(again[0].frames, first[0].frames)
    _, cached = references(pipe, config, items, cache, refresh=True, log=lambda line: None)
    assert cached == 0
    fingerprint = weights_fingerprint(pipe)
    assert fingerprint == weights_fingerprint(load_pipeline(spec))
    with torch.no_grad():
        next(pipe.transformer.parameters()).add_(1.0)
    assert weights_fingerprint(pipe) != fingerprint


def _results(psnr_value: float | None) -> dict:
    row = {
        "label": "draft",
        "method": "draft",
        "density": 0.25,
        "speedup": 2.0,
        "attention_speedup": 3.0,
        "seconds": 1.0,
    }
    return {
        "model": "tiny-wan",
        "device": "cpu",
        "dtype": "float32",
        "torch": torch.__version__,
        "steps": 2,
        "guidance": 5.0,
        "prompts": [{"prompt": "p", "seed": 0, "height": 32, "width": 32, "frames": 5}],
        "skipped_metrics": {"fid": "FID skipped: no weights"},
        "stock": {"seconds": 2.0, "attention_s": 1.0, "plan_s": 0.0, "density": 1.0, "from_cache": 0},
        "methods": [{**row, "psnr": psnr_value, "ssim": 0.9, "lpips": None, "fid": None}],
    }


def test_report_files(tmp_path) -> None:
    results = _results(31.5)
    table = results_table(results)
    assert table.splitlines()[2].startswith("| stock (reference) | 1.000 | 1.00x")
    assert "| draft | 0.250 | 2.00x | 3.00x | 1.00 | - | - | 31.50 | 0.9000 | - | - |" in table
    paths = write_results(results, tmp_path)
    assert json.loads(paths["results.json"].read_text())["methods"][0]["psnr"] == 31.5
    report = paths["report.md"].read_text()
    assert table in report and "FID skipped: no weights" in report
    assert paths["tradeoff.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    write_results(_results(None), tmp_path / "no-psnr")  # a setting without PSNR is left off the plot
