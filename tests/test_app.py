"""The web demo (app/): the page's helpers, and the app launched in-process and called with gradio_client."""

from __future__ import annotations

import math
import urllib.request

import numpy as np
import PIL.Image
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError

from app.catalog import default_model, model_choices
from app.defaults import page_default, pick
from app.demo import create_app, launch
from app.layout_plot import HEIGHT, WIDTH, natural_density
from app.request import Form, InputError, knob_defaults, parse_extra, parse_form
from app.sweep import SWEEP_VALUES, sweep_settings
from dit_accel.atomic import json_text
from dit_accel.models import get_model
from dit_accel.video_io import read_video

TINY = get_model("tiny-wan")


def form(**changes) -> Form:
    """The page's default form for tiny-wan and radial, with `changes`."""
    knobs = knob_defaults(TINY, "radial")
    values = dict(
        model="tiny-wan", prompt="a cat runs on the grass", method="radial", extra_options="", seed=0,
        steps=TINY.steps, height=TINY.height, width=TINY.width, frames=TINY.frames, guidance=TINY.guidance,
        **knobs,
    )  # fmt: skip
    return Form(**{**values, **changes})


def test_natural_density_maps_the_selection_back_to_token_order() -> None:
    """A natural block pair's share is the share of its token pairs that the permuted block mask keeps."""
    generator = torch.Generator().manual_seed(0)
    seq, block = 40, 8  # 5 blocks
    perm = torch.randperm(seq, generator=generator)
    mask = torch.rand(5, 5, generator=generator) < 0.4
    tokens = mask.repeat_interleave(block, 0).repeat_interleave(block, 1)  # [S, S] over permuted positions
    natural = torch.zeros(seq, seq, dtype=torch.bool)
    natural[perm[:, None], perm[None, :]] = tokens
    expected = natural.double().reshape(5, block, 5, block).mean((1, 3)).numpy()
    placed = torch.arange(seq) // block
    np.testing.assert_allclose(
        natural_density(mask, (perm, perm), (placed, placed), block), expected, atol=1e-12
    )
    np.testing.assert_array_equal(natural_density(mask, None, (placed, placed), block), mask.double().numpy())


def test_natural_density_of_cluster_blocks_with_separate_query_and_key_orders() -> None:
    generator = torch.Generator().manual_seed(1)
    seq, block = 40, 8
    perms = torch.randperm(seq, generator=generator), torch.randperm(seq, generator=generator)
    placed = torch.sort(torch.randint(0, 3, (seq,), generator=generator)).values, torch.arange(seq) // 10
    mask = torch.rand(3, 4, generator=generator) < 0.5
    tokens = mask[placed[0]][:, placed[1]]  # [S, S] over permuted positions
    natural = torch.zeros(seq, seq, dtype=torch.bool)
    natural[perms[0][:, None], perms[1][None, :]] = tokens
    expected = natural.double().reshape(5, block, 5, block).mean((1, 3)).numpy()
    np.testing.assert_allclose(natural_density(mask, perms, placed, block), expected, atol=1e-12)


def test_parse_extra_reads_literals_and_words() -> None:
    assert parse_extra("window=(3, 8, 8); sink=False\norder=semantic") == {
        "window": (3, 8, 8),
        "sink": False,
        "order": "semantic",
    }
    with pytest.raises(InputError, match="is not key=value"):
        parse_extra("window")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prompt": "   "}, "Enter a prompt"),
        ({"extra_options": "foo=1"}, "unknown option 'foo' for radial; it takes decay"),
        ({"method": "adaptive", "budget": "density"}, "adaptive selects blocks by mass, not density"),
        ({"method": "draft", "amount": 1.5}, "draft: density must be a number in"),
        ({"height": 100}, "height must be a positive multiple of 16, got 100 for tiny-wan"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"dense_steps": 1.5}, "dense warm-up must be a share of the steps between 0 and 1, got 1.5"),
    ],
    ids=[
        "empty-prompt",
        "unknown-option",
        "wrong-budget",
        "bad-density",
        "bad-height",
        "bad-steps",
        "bad-warmup",
    ],
)
def test_parse_form_rejects_bad_input_in_one_line(changes: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        parse_form(form(**changes), TINY)
    assert "\n" not in str(error.value)


def test_parse_form_layers_recommendation_knobs_and_extras() -> None:
    request = parse_form(form(method="draft", budget="mass", amount=0.8, extra_options="per_head=True"), TINY)
    assert request.setting.options == {"mass": 0.8, "block_size": 16, "per_head": True}
    assert request.setting.schedule == {"dense_steps": 0.0, "dense_layers": 0, "refresh_every": 5}
    window = parse_form(form(method="window"), TINY).setting.options["window"]
    assert window == TINY.recommended["window"]["window"]


@pytest.mark.parametrize("method", ["radial", "window", "draft", "adaptive"])
def test_sweep_varies_the_main_knob(method: str) -> None:
    setting = parse_form(
        form(method=method, budget="mass" if method == "adaptive" else "density"), TINY
    ).setting
    settings = sweep_settings(setting)
    knob = {"radial": "decay", "window": "window", "draft": "density", "adaptive": "mass"}[method]
    assert [s.label.split("=")[0] for s in settings] == [knob] * len(SWEEP_VALUES[knob])
    assert len({str(s.options[knob]) for s in settings}) == len(settings)
    assert all(s.schedule == setting.schedule for s in settings)


def test_without_demo_weights_the_page_offers_tiny_models(tmp_path) -> None:
    choices = model_choices(tmp_path / "no-demo-weights")
    assert choices[0].name == "demo" and "python -m dit_accel.demo.train" in choices[0].missing
    assert default_model(choices) == "tiny-wan"
    assert {"tiny-wan", "tiny-cogvideox"} <= {c.name for c in choices}
    assert not any(get_model(c.name).is_image for c in choices)  # a video demo


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """The app on a free port, without demo weights, so tiny-wan is its default model."""
    tmp = tmp_path_factory.mktemp("app")
    demo, session = create_app(out_dir=tmp / "videos", demo_weights=tmp / "no-demo-weights")
    url = launch(demo, session, port=None, block=False)
    yield demo, url, Client(url, verbose=False)
    demo.close()


@pytest.fixture(scope="module")
def default_run(served) -> tuple:
    """/generate with no arguments: every input has a default (tiny-wan, radial)."""
    return served[2].predict(api_name="/generate")


def test_generate_with_defaults_returns_videos_metrics_and_layout(default_run: tuple) -> None:
    dense_path, accelerated_path, text, layout_path, metrics = default_run
    dense, accelerated = read_video(dense_path), read_video(accelerated_path)
    assert dense.shape == accelerated.shape == (TINY.frames, TINY.height, TINY.width, 3)
    assert metrics["model"] == "tiny-wan" and metrics["method"] == "radial" and not metrics["dense_cached"]
    assert 0 < metrics["density"] < 1  # radial skipped some blocks of the 3 x 8 x 8 token grid
    assert 0 < metrics["psnr_db"] < 100 and 0 < metrics["ssim"] < 1  # close to dense, not identical
    assert metrics["speedup"] == pytest.approx(metrics["dense_seconds"] / metrics["accelerated_seconds"])
    assert f"{metrics['psnr_db']:.2f} dB" in text and "attention computed" in text
    with PIL.Image.open(layout_path) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)


def test_psnr_puts_the_kernel_baseline_far_above_a_sparse_method(served, default_run: tuple) -> None:
    """Dense (every block through our kernel) matches the stock video nearly exactly; radial, which
    skips blocks, must score clearly lower."""
    radial = default_run[4]
    *_, dense = served[2].predict(method="dense", api_name="/generate")
    assert dense["method"] == "dense" and dense["dense_cached"] and dense["density"] == 1.0
    assert dense["psnr_db"] > 40.0 and dense["ssim"] > 0.99
    assert radial["psnr_db"] < dense["psnr_db"] - 10.0 and radial["ssim"] < dense["ssim"]


def test_changing_only_the_method_reuses_the_dense_reference(served, default_run: tuple) -> None:
    first = default_run[4]
    dense_path, _, _, _, metrics = served[2].predict(method="draft", api_name="/generate")
    assert metrics["dense_cached"] and metrics["dense_seconds"] == first["dense_seconds"]
    assert metrics["method"] == "draft" and metrics["density"] == pytest.approx(0.25, abs=0.01)
    np.testing.assert_array_equal(read_video(dense_path), read_video(default_run[0]))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompt": ""}, "Enter a prompt"),
        ({"extra_options": "foo=1"}, "unknown option 'foo' for radial"),
        ({"model": "demo"}, "Demo model weights missing.*python -m dit_accel.demo.train"),
        ({"layer": 7}, "tiny-wan has layers 0-1 and heads 0-1"),
    ],
    ids=["empty-prompt", "unknown-option", "missing-weights", "layer-out-of-range"],
)
def test_bad_input_comes_back_as_a_message(served, arguments: dict, message: str) -> None:
    with pytest.raises(AppError, match=message) as error:
        served[2].predict(api_name="/generate", **arguments)
    assert "Traceback" not in str(error.value)


def test_sweep_plots_quality_against_speedup(served) -> None:
    plot_path, table = served[2].predict(steps=2, api_name="/sweep")
    with PIL.Image.open(plot_path) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    rows = table["data"]
    assert [row[0] for row in rows] == [f"decay={value}" for value in SWEEP_VALUES["decay"]]
    assert all(row[1] > 0 and math.isfinite(row[3]) for row in rows)


def test_page_is_offline(served) -> None:
    """No telemetry and no web fonts: the theme's CSS names no font server."""
    demo, url, _ = served
    assert demo.analytics_enabled is False
    with urllib.request.urlopen(f"{url}theme.css") as response:
        css = response.read().decode()
    assert "googleapis" not in css
    assert "ui-sans-serif" in css


def test_page_says_the_demo_weights_are_missing(served) -> None:
    with urllib.request.urlopen(f"{served[1]}config") as response:
        config = response.read().decode()
    assert "Demo model weights missing" in config and "Until then the tiny models" in config


def _eval_row(label: str, method: str, options: dict, speedup: float, psnr: float, ssim: float) -> dict:
    return {
        "label": label,
        "method": method,
        "options": options,
        "speedup": speedup,
        "psnr": psnr,
        "ssim": ssim,
    }


def _form_setting(first) -> dict:
    """Method options and schedule of the demo form filled with page default `first`."""
    demo = get_model("demo")
    values = dict(
        model="demo", prompt="a red circle", method=first.method, extra_options=first.extra_options, seed=0,
        steps=demo.steps, height=demo.height, width=demo.width, frames=first.frames, guidance=demo.guidance,
        **first.knobs,
    )  # fmt: skip
    setting = parse_form(Form(**values), demo).setting
    return {**setting.options, **setting.schedule}


def test_page_default_is_the_fastest_setting_at_the_quality_bar(tmp_path) -> None:
    demo = get_model("demo")
    rows = [
        _eval_row("window", "window", {"dense_steps": 0.2, "dense_layers": 1}, 3.0, 25.0, 0.95),  # too lossy
        _eval_row("radial", "radial", {"decay": 0.2, "dense_steps": 0.2, "dense_layers": 1}, 1.4, 31.0, 0.97),
        _eval_row(
            "draft:density=0.3",
            "draft",
            {"density": 0.3, "per_head": True, "dense_steps": 0.1, "dense_layers": 0},
            2.1,
            28.5,
            0.93,
        ),
        _eval_row("adaptive", "adaptive", {"mass": 0.9}, 0.9, 35.0, 0.99),  # slower than stock
    ]
    results = {"methods": rows, "prompts": [{"frames": 33}], "steps": 20, "device": "cpu"}
    path = tmp_path / "eval.json"
    path.write_text(json_text(results))
    assert pick(results) is rows[2]
    first = page_default(demo, path)
    assert (first.method, first.frames, first.extra_options) == ("draft", 33, "per_head=True")
    assert (
        "draft:density=0.3 at 33 frames" in first.note and "2.10x" in first.note and "28.5 dB" in first.note
    )
    chosen = _form_setting(first)
    assert {key: chosen[key] for key in rows[2]["options"]} == rows[2]["options"]
    path.write_text(json_text({**results, "methods": rows[:1]}))  # nothing at the bar: Radial, model's size
    fallback = page_default(demo, path)
    assert (fallback.method, fallback.frames, fallback.note) == ("radial", None, "")
    assert fallback.knobs == knob_defaults(demo, "radial")


def test_the_demo_page_starts_with_the_committed_measurement() -> None:
    demo = get_model("demo")
    first = page_default(demo)
    row = first.measured
    # The page claims what was measured; no setting reaches the 1.5x goal on this model (README).
    assert row["psnr"] >= 28 and row["ssim"] >= 0.9 and row["speedup"] > 1 and first.frames == 33
    assert first.note.count(f"{row['speedup']:.2f}x wall time") == 1
    chosen = _form_setting(first)
    assert {key: chosen[key] for key, value in row["options"].items() if value is not None} == {
        key: value for key, value in row["options"].items() if value is not None
    }
