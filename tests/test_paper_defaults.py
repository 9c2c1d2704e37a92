"""The papers' settings per model: the registry recommends them, accelerate() applies them to a pipeline
of that model unless the user gives their own, and the step schedules scale with the step count."""

import pytest
import torch

from dit_accel.methods import Radial
from dit_accel.methods.papers import paper_settings
from dit_accel.models.registry import get_model
from dit_accel.models.tiny_random import tiny_hunyuan_video_pipeline, tiny_wan_pipeline, wan_model
from dit_accel.pipelines import DenseSchedule, accelerate

# What the papers' public scripts run (see dit_accel/methods/papers.py for the files).
RADIAL = {
    "wan2.1": {"decay": 0.2, "sink": True, "block_size": 128, "dense_layers": 1, "dense_steps": 0.24},
    "wan2.2": {"decay": 0.8, "sink": True, "block_size": 64, "dense_layers": 1, "dense_steps": 0.275},
    "hunyuan_video": {
        "decay": 0.95,
        "sink": False,
        "block_size": 128,
        "dense_layers": 0,
        "dense_steps": 0.24,
    },
}


@pytest.fixture(scope="module")
def wan():
    return tiny_wan_pipeline()


@pytest.fixture(scope="module")
def hunyuan():
    return tiny_hunyuan_video_pipeline()


def _settings(handle) -> dict:
    s = handle.config.schedule
    return {
        **handle.method.options(),
        "dense_steps": s.steps,
        "dense_layers": s.layers,
        "above": s.above_timestep,
    }


@pytest.mark.parametrize("model", RADIAL)
def test_paper_settings_are_the_papers(model):
    settings = paper_settings(model, blocks=40)
    assert settings["radial"] == pytest.approx(RADIAL[model])
    steps = 0.1 if model == "hunyuan_video" else 0.2
    assert settings["reordered"] == {
        "order": "semantic",
        "dense_steps": steps,
        "dense_layers": 1,
    }  # floor(1.2)
    assert settings["draft"] == {"density": 0.1, "dense_above_timestep": 945.0, "dense_layers": 2}
    assert paper_settings(model, blocks=30)["reordered"]["dense_layers"] == 0  # SVG2 floors 0.03 x 30
    with pytest.raises(ValueError, match="model must be one of 'wan2.1', 'wan2.2', 'hunyuan_video'"):
        paper_settings("flux", 19)


def test_the_registry_recommends_each_models_paper_settings():
    assert get_model("hunyuanvideo").recommended["radial"] == pytest.approx(RADIAL["hunyuan_video"])
    assert get_model("wan2.1").recommended["radial"] == pytest.approx(RADIAL["wan2.1"])
    assert get_model("wan2.2").recommended["radial"] == pytest.approx(RADIAL["wan2.2"])
    assert get_model("hunyuanvideo").recommended["reordered"]["dense_steps"] == 0.1
    assert get_model("wan2.1-14b").recommended["reordered"]["dense_layers"] == 1
    assert get_model("wan2.1").recommended["draft"]["density"] == 0.1
    assert get_model("cogvideox").recommended["radial"] == {
        "decay": 0.2,
        "dense_steps": 0.2,
        "dense_layers": 1,
    }


def test_a_hunyuan_pipeline_gets_hunyuans_settings(hunyuan):
    handle = accelerate(hunyuan, "radial")
    handle.remove()
    settings = _settings(handle)
    assert {k: settings[k] for k in RADIAL["hunyuan_video"]} == pytest.approx(RADIAL["hunyuan_video"])
    # 12 of 50 steps: 12 at 50, 6 at 25 (steps scale with the user's count).
    schedule = handle.config.schedule
    assert [schedule.is_dense(step, 50, 5) for step in (11, 12)] == [True, False]
    assert [schedule.is_dense(step, 25, 5) for step in (5, 6)] == [True, False]


def test_wan_pipelines_get_wan_21_or_22_settings(wan):
    handle = accelerate(wan, "radial")
    handle.remove()
    assert {k: _settings(handle)[k] for k in RADIAL["wan2.1"]} == pytest.approx(RADIAL["wan2.1"])
    two = tiny_wan_pipeline(two_experts=True)
    handle = accelerate(two, "radial")
    handle.remove()
    assert {k: _settings(handle)[k] for k in RADIAL["wan2.2"]} == pytest.approx(RADIAL["wan2.2"])
    handle = accelerate(wan, "reordered")
    handle.remove()
    assert handle.method.order == "semantic" and _settings(handle)["dense_steps"] == 0.2


def test_explicit_options_override_the_papers(hunyuan):
    handle = accelerate(hunyuan, "radial", decay=0.5, dense_layers=3, dense_steps=2)
    handle.remove()
    settings = _settings(handle)
    assert (settings["decay"], settings["sink"], settings["dense_layers"], settings["dense_steps"]) == (
        0.5,
        False,
        3,
        2,
    )
    handle = accelerate(hunyuan, "draft", mass=0.8)  # a budget replaces the paper's density
    handle.remove()
    assert (handle.method.density, handle.method.mass, _settings(handle)["above"]) == (None, 0.8, 945.0)
    handle = accelerate(hunyuan, Radial(decay=0.3))  # an instance keeps its options, takes the schedule
    handle.remove()
    assert (handle.method.decay, handle.method.sink, _settings(handle)["dense_steps"]) == (0.3, True, 0.24)
    handle = accelerate(hunyuan, "radial", paper_defaults=False)
    handle.remove()
    assert _settings(handle) == {**Radial().options(), "dense_steps": 0, "dense_layers": 0, "above": None}
    bare = wan_model()  # a bare transformer has no scheduler: the plain defaults
    handle = accelerate(bare, "radial")
    handle.remove()
    assert handle.method == Radial() and handle.config.schedule == DenseSchedule()


def test_drafts_timestep_rule_runs_the_noisiest_steps_dense(wan):
    handle = accelerate(wan, "draft", block_size=16, dense_layers=0)
    try:
        wan(
            prompt="a cat",
            height=128,
            width=128,
            num_frames=9,
            num_inference_steps=4,
            guidance_scale=1.0,
            max_sequence_length=8,
            output_type="latent",
            generator=torch.Generator().manual_seed(0),
        )
    finally:
        handle.remove()
    rows = handle.stats()
    timesteps = [float(t) for t in wan.scheduler.timesteps]
    assert timesteps[0] > 945 > timesteps[1]
    assert {row.step for row in rows if row.dense_calls} == {0}
    assert {row.step for row in rows} == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="dense_above_timestep must be a number or None"):
        DenseSchedule(above_timestep="945")
    assert DenseSchedule(above_timestep=945.0).is_dense(3, 4, 5, timestep=946.0)
    assert not DenseSchedule(above_timestep=945.0).is_dense(3, 4, 5, timestep=945.0)
