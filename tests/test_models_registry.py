"""The model registry: specs consistent with their own rules, tiny pipelines of every family run sparse
with the requested sizes, missing weights fail with a message instead of a download."""

from __future__ import annotations

import numpy as np
import pytest

from dit_accel.demo import weights_present
from dit_accel.generate import (
    STOCK,
    Schedule,
    call_pipeline,
    install,
    make_items,
    resolve_setting,
    setting_options,
)
from dit_accel.methods.registry import METHOD_CLASSES, make_method
from dit_accel.models import MODELS, ModelNotAvailable, SizeRules, get_model, load_pipeline
from dit_accel.options import option_values

TINY = [name for name in MODELS if name.startswith("tiny-")]


def test_registry_names_the_issue_models_and_a_tiny_model_per_family() -> None:
    expected = {"wan2.1", "wan2.1-14b", "wan2.2", "wan2.2-5b", "hunyuanvideo", "cogvideox", "cogvideox-5b"}
    assert expected | {"ltx-video", "flux", "flux-schnell", "demo"} <= set(MODELS)
    real_families = {spec.family for spec in MODELS.values() if spec.hub_id}
    assert real_families == {get_model(name).family for name in TINY}
    assert get_model("wan2.1").hub_id == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    with pytest.raises(ValueError, match="unknown model 'nope'; choose one of wan2.1, "):
        get_model("nope")


@pytest.mark.parametrize("name", list(MODELS))
def test_spec_defaults_obey_its_rules_and_recommendations_build(name: str) -> None:
    spec = MODELS[name]
    assert spec.rules.check(spec.height, spec.width, spec.frames) is None
    assert spec.prompts and (spec.hub_id is None) == (spec.build is not None or spec.family == "demo")
    assert set(spec.recommended) == set(METHOD_CLASSES)
    for method, recommended in spec.recommended.items():
        assert set(recommended) <= set(setting_options(method)), (name, method)
        setting = resolve_setting(method, recommended, {})
        make_method(method, **setting.options)


def test_flags_override_recommendations_and_density_replaces_mass() -> None:
    recommended = {"mass": 0.9, "block_size": 16, "dense_steps": 0.2}
    setting = resolve_setting("draft", recommended, {"density": 0.1})
    assert setting.options == {"density": 0.1, "block_size": 16} and setting.schedule == {"dense_steps": 0.2}
    assert resolve_setting(STOCK, recommended, {}).describe() == {"method": STOCK, "options": {}}
    dense = resolve_setting("dense", recommended, {}).describe()  # the kernel baseline takes no mass
    schedule = option_values(Schedule(dense_steps=0.2))
    assert dense == {"method": "dense", "options": {"block_size": 16, **schedule}}


@pytest.mark.parametrize(
    ("rules", "size", "problem"),
    [
        (SizeRules(16, 4), (480, 832, 81), None),
        (SizeRules(16, 4), (480, 832, 80), ("--frames", "must be 4k+1 (1, 5, ...), got 80")),
        (SizeRules(16, 4), (472, 832, 81), ("--height", "must be a positive multiple of 16, got 472")),
        (SizeRules(16, 4), (480, 0, 81), ("--width", "must be a positive multiple of 16, got 0")),
        (SizeRules(32, 8), (480, 704, 161), None),
        (SizeRules(32, 8), (480, 704, 81), None),
        (SizeRules(32, 8), (480, 704, 85), ("--frames", "must be 8k+1 (1, 9, ...), got 85")),
        (SizeRules(16, 0), (1024, 1024, 1), None),
        (SizeRules(16, 0), (1024, 1024, 5), ("--frames", "must be 1 for an image model, got 5")),
        (SizeRules(4, 1, 256, 64), (64, 64, 10), None),
        (SizeRules(4, 1, 256, 64), (260, 64, 9), ("--height", "must be at most 256, got 260")),
        (SizeRules(4, 1, 256, 64), (64, 64, 65), ("--frames", "must be at most 64, got 65")),
    ],
)
def test_size_rules(rules: SizeRules, size: tuple[int, int, int], problem) -> None:
    assert rules.check(*size) == problem


@pytest.mark.parametrize("name", TINY)
def test_tiny_pipeline_runs_sparse_at_the_requested_size(name: str) -> None:
    spec = get_model(name)
    pipe = load_pipeline(spec)
    items = make_items([{"prompt": "a cat runs"}], 0, spec.height, spec.width, spec.frames)
    handle = install(pipe, resolve_setting("draft", spec.recommended["draft"], {}), steps=1)
    try:
        media = np.asarray(call_pipeline(pipe, spec, items, steps=1, guidance=spec.guidance))
    finally:
        handle.remove()
    size = (spec.height, spec.width, 3) if spec.is_image else (spec.frames, spec.height, spec.width, 3)
    assert media.shape == (1, *size)
    assert np.isfinite(media).all() and 0.0 <= media.min() and media.max() <= 1.0
    assert 0.0 < handle.summary()["density"] < 1.0


def test_missing_hub_weights_fail_at_once_with_where_and_how(tmp_path) -> None:
    with pytest.raises(ModelNotAvailable) as error:
        load_pipeline(get_model("wan2.1"), cache_dir=tmp_path)
    message = str(error.value)
    for part in (
        "'wan2.1'",
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        str(tmp_path),
        "--model-path",
        "hf download",
    ):
        assert part in message


def test_a_model_path_without_a_pipeline_or_on_a_tiny_model_is_refused(tmp_path) -> None:
    with pytest.raises(ModelNotAvailable, match="no diffusers pipeline at .*model_index.json"):
        load_pipeline(get_model("cogvideox"), model_path=tmp_path)
    with pytest.raises(ModelNotAvailable, match="built from a config"):
        load_pipeline(get_model("tiny-wan"), model_path=tmp_path)
    with pytest.raises(ModelNotAvailable, match="model 'demo': No demo video model"):
        load_pipeline(get_model("demo"), model_path=tmp_path)


@pytest.mark.skipif(
    not weights_present(), reason="the demo model's weights are not in dit_accel/demo/weights"
)
def test_demo_model_loads_and_generates() -> None:
    spec = get_model("demo")
    pipe = load_pipeline(spec)
    items = make_items([{"prompt": spec.prompts[0]}], 0, spec.height, spec.width, spec.frames)
    media = call_pipeline(pipe, spec, items, steps=2, guidance=spec.guidance)
    assert np.asarray(media).shape == (1, spec.frames, spec.height, spec.width, 3)
