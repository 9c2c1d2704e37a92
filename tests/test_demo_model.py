"""The embedded demo video model: data, caption decoding, pipeline, training script, loader."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import WanTransformer3DModel
from diffusers.models.transformers.transformer_wan import WanTimeTextImageEmbedding

from dit_accel.demo import (
    TINY,
    build_pipeline,
    describe_video,
    load_demo_pipeline,
    make_batch,
    make_sample,
    video_to_frames,
    weights_present,
)
from dit_accel.demo.checkpoint import checkpoints
from dit_accel.demo.data import (
    BACKGROUNDS,
    COLOURS,
    MOTIONS,
    SHAPES,
    VideoSpec,
    background_grey,
    render,
    sample_spec,
)
from dit_accel.demo.pipeline import with_coordinates
from dit_accel.demo.quality import (
    ATTRIBUTES,
    EVAL_PROMPTS,
    EVAL_SPECS,
    HELD_OUT_SPECS,
    attention_locality,
    caption_following,
)
from dit_accel.demo.train import flow_matching_loss, object_weights
from dit_accel.demo.train import main as train_main

SIZE = {"num_frames": TINY.frames, "height": TINY.height, "width": TINY.width}


@pytest.fixture
def tiny_pipe():
    pipe = build_pipeline(TINY, seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _generate(pipe, steps: int = 2, seed: int = 0, **kwargs):
    return pipe(
        "a red circle moving left",
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(seed),
        **{**SIZE, **kwargs},
    ).frames


def test_data_is_deterministic_per_seed():
    a, b, c = make_sample(7), make_sample(7), make_sample(8)
    assert torch.equal(a.video, b.video) and a.caption == b.caption
    assert not torch.equal(a.video, c.video)
    assert a.video.shape == (9, 3, 64, 64) and a.video.min() >= -1 and a.video.max() <= 1
    assert (
        a.caption == f"a {a.spec.colour} {a.spec.shape} {a.spec.motion} on a {a.spec.background} background"
    )
    assert a.coverage.shape == (9, 64, 64) and 0.05 < a.coverage.mean() < 0.2
    batch = [make_batch(3, torch.Generator().manual_seed(1), frames=5, height=32, width=32) for _ in "ab"]
    videos, coverage, captions = batch[0]
    assert videos.shape == (3, 3, 5, 32, 32) and coverage.shape == (3, 1, 5, 32, 32) and len(captions) == 3
    assert all(torch.equal(x, y) for x, y in zip(batch[0][:2], batch[1][:2], strict=True))
    assert captions == batch[1][2]


def test_coverage_marks_the_object_pixels():
    sample = make_sample(3)
    frames = video_to_frames(sample.video)
    saturation = frames.max(-1).values - frames.min(-1).values
    assert (saturation[sample.coverage > 0.99] > 0.5).all()
    assert (saturation[sample.coverage == 0] < 1e-6).all()


@pytest.mark.parametrize(("frames", "size"), [(9, 64), (33, 64), (9, 32)])
def test_describe_video_recovers_every_attribute_of_data(frames, size):
    samples = [make_sample(seed, frames, size, size) for seed in range(40)]
    for attribute, values in (("shape", SHAPES), ("motion", MOTIONS), ("background", BACKGROUNDS)):
        assert {getattr(s.spec, attribute) for s in samples} == set(values)
    for s in samples:
        want = {name: getattr(s.spec, name) for name in ATTRIBUTES}
        assert describe_video(video_to_frames(s.video)) == want, s.caption


def test_describe_video_finds_no_object_in_grey_frames():
    assert describe_video(np.full((5, 16, 16, 3), 0.4)) == dict.fromkeys(ATTRIBUTES, "none")
    with pytest.raises(ValueError, match=r"\[F, H, W, 3\]"):
        describe_video(np.zeros((5, 3, 16, 16)))


def test_background_must_have_the_period_and_phase_of_the_data():
    spec = VideoSpec("red", "circle", "moving left", "checkered")
    video, _ = render(spec, 9, 64, 64, torch.Generator().manual_seed(0))
    frames = video_to_frames(video).numpy()
    assert describe_video(frames)["background"] == "checkered"
    shifted = np.roll(frames, 4, axis=1)  # half a level down: a checkerboard, not the data's
    assert describe_video(shifted)["background"] == "other"
    grey = background_grey("checkered", 64, 64).numpy()
    blocky = np.kron(grey[:32:8, :32:8], np.ones((16, 16)))  # the data's levels at twice its period
    on_grey = np.isclose(frames, grey[..., None], atol=1e-6)
    assert describe_video(np.where(on_grey, blocky[..., None], frames))["background"] == "other"


def test_held_out_captions_are_new_to_training():
    assert len(set(HELD_OUT_SPECS)) == 40 and not set(HELD_OUT_SPECS) & set(EVAL_SPECS)
    for attribute, values in (("colour", COLOURS), ("shape", SHAPES), ("motion", MOTIONS)):
        assert {getattr(s, attribute) for s in HELD_OUT_SPECS} == set(values)
    exclude = frozenset(HELD_OUT_SPECS)
    g = torch.Generator().manual_seed(0)
    drawn = {sample_spec(g, exclude) for _ in range(6000)}
    assert not drawn & exclude and len(drawn) == 504 - 40


def test_eval_prompts_cover_every_motion():
    assert len(EVAL_PROMPTS) == 20 and {s.motion for s in EVAL_SPECS} == set(MOTIONS)


def test_text_encoder_maps_unknown_words_to_unk(tiny_pipe):
    encoder = tiny_pipe.text_encoder
    ids = encoder.tokenize(["A Red zebra, moving!", ""])
    words = [encoder.words[i] for i in ids[0, :4]]
    assert words == ["a", "red", "<unk>", "moving"]
    assert ids[0, 4:].eq(0).all() and ids[1].eq(0).all()
    assert encoder.encode(["a red circle"]).shape == (1, TINY.max_text_length, TINY.text_dim)


def test_empty_prompt_is_an_error_naming_prompt(tiny_pipe):
    for bad in ("", "   ", [], ["a red circle", ""]):
        with pytest.raises(ValueError, match="prompt"):
            tiny_pipe(bad, num_inference_steps=1, **SIZE)


def test_output_layouts_and_range(tiny_pipe):
    frames = _generate(tiny_pipe, num_videos_per_prompt=2)
    assert isinstance(frames, np.ndarray) and frames.dtype == np.float32
    assert frames.shape == (2, TINY.frames, TINY.height, TINY.width, 3)
    assert frames.min() >= 0 and frames.max() <= 1 and frames.std() > 0
    assert not np.allclose(frames[0], frames[1])  # two videos per prompt draw different noise
    pt = _generate(tiny_pipe, output_type="pt")
    torch.testing.assert_close(pt[0].permute(0, 2, 3, 1).numpy(), _generate(tiny_pipe)[0])
    pil = _generate(tiny_pipe, output_type="pil")
    assert len(pil) == 1 and len(pil[0]) == TINY.frames and pil[0][0].size == (TINY.width, TINY.height)


def test_coordinates_span_the_clip_at_any_size():
    video = torch.randn(2, 3, 5, 4, 6)
    inputs = with_coordinates(video)
    assert inputs.shape == (2, 15, 5, 4, 6)
    assert torch.equal(inputs[:, :3], video)
    t, y, x, *products = inputs[1, 3:12]
    torch.testing.assert_close(t[:, 0, 0], torch.linspace(-1, 1, 5))
    torch.testing.assert_close(y[0, :, 0], torch.linspace(-1, 1, 4))
    torch.testing.assert_close(x[0, 0], torch.linspace(-1, 1, 6))
    assert torch.equal(t, t[:, :1, :1].expand_as(t))  # the frame channel is constant per frame
    for product, expected in zip(products, (t * t, y * y, x * x, t * y, t * x, y * x), strict=True):
        torch.testing.assert_close(product, expected)
    assert torch.equal(with_coordinates(torch.zeros(1, 3, 1, 2, 2))[0, 3], torch.zeros(1, 2, 2))


def test_models_built_before_the_waves_get_the_first_nine_coordinates():
    video = torch.randn(1, 3, 2, 8, 8)
    torch.testing.assert_close(with_coordinates(video, 9), with_coordinates(video)[:, :12])
    with pytest.raises(ValueError, match="channels must be 9 or 12, got 10"):
        with_coordinates(video, 10)


@pytest.mark.parametrize("size", [32, 64])
def test_texture_waves_sum_per_patch_to_the_data_levels(size):
    """Each 4 x 4 patch of the wave channels sums to +-c with the sign of the texture's level, so the
    stripes and checks are a linear function of the input."""
    wave_y, wave_x, product = with_coordinates(torch.zeros(1, 3, 2, size, size))[0, 12:, 1]
    patches = size // 4
    for wave, kind, vertical in (
        (wave_y, "striped", False),
        (wave_x, "striped", True),
        (product, "checkered", False),
    ):
        sums = wave.reshape(patches, 4, patches, 4).sum((1, 3))
        level = background_grey(kind, size, size, vertical)[::4, ::4]
        assert torch.equal(sums < 0, level > 0.35)
        torch.testing.assert_close(sums.abs(), sums.abs().max().expand_as(sums))


def test_transformer_sees_rgb_and_coordinates(tiny_pipe):
    seen = []
    tiny_pipe.transformer.register_forward_hook(
        lambda m, args, kwargs, out: seen.append(kwargs["hidden_states"]), with_kwargs=True
    )
    frames = _generate(tiny_pipe, steps=1, guidance_scale=1.0)
    assert seen[0].shape == (1, 15, TINY.frames, TINY.height, TINY.width)
    assert frames.shape == (1, TINY.frames, TINY.height, TINY.width, 3)
    torch.testing.assert_close(seen[0][:, 3:], with_coordinates(torch.zeros(1, 3, *seen[0].shape[2:]))[:, 3:])


def test_caption_reaches_the_modulation_of_every_block(tiny_pipe):
    transformer = tiny_pipe.transformer
    assert isinstance(transformer, WanTransformer3DModel)  # Wan's processors and adapters apply
    embedder = transformer.condition_embedder
    context = tiny_pipe.text_encoder.encode(["a red circle moving left", "a red circle moving right"])
    timestep = torch.tensor([500.0, 500.0])
    wan_temb, wan_projection, wan_text, _ = WanTimeTextImageEmbedding.forward(embedder, timestep, context)
    temb, projection, _, _ = embedder(timestep, context)
    torch.testing.assert_close(projection, wan_projection)  # zero-initialised: Wan's own modulation
    torch.nn.init.normal_(embedder.caption_embedder.weight)
    temb, projection, text, _ = embedder(timestep, context)
    torch.testing.assert_close(temb, wan_temb + embedder.caption_embedder(context.sum(1)))
    torch.testing.assert_close(projection, embedder.time_proj(embedder.act_fn(temb)))
    torch.testing.assert_close(text, wan_text)
    assert not torch.allclose(projection[0], projection[1])  # same step, different motion word


def test_save_load_round_trip_is_identical(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path)
    loaded = load_demo_pipeline(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert np.array_equal(_generate(tiny_pipe, steps=3), _generate(loaded, steps=3))


@pytest.mark.parametrize(("guidance", "per_step"), [(4.0, 2), (1.0, 1)], ids=["cfg", "no-cfg"])
def test_cfg_runs_cond_and_uncond_forwards(tiny_pipe, guidance, per_step):
    calls = []
    tiny_pipe.transformer.register_forward_hook(
        lambda m, args, kwargs, out: calls.append(kwargs), with_kwargs=True
    )
    _generate(tiny_pipe, steps=3, guidance_scale=guidance)
    assert len(calls) == 3 * per_step
    if per_step == 2:  # the uncond forward sees the all-<pad> context, the cond one the prompt
        cond, uncond = calls[0]["encoder_hidden_states"], calls[1]["encoder_hidden_states"]
        torch.testing.assert_close(uncond, tiny_pipe.text_encoder.encode([""]))
        assert not torch.allclose(cond, uncond)


def test_callback_on_step_end_can_replace_latents(tiny_pipe):
    seen = []

    def callback(pipe, step, timestep, tensors):
        seen.append(step)
        return {"latents": torch.zeros_like(tensors["latents"])}

    frames = _generate(tiny_pipe, steps=2, callback_on_step_end=callback)
    assert seen == [0, 1] and np.allclose(frames, 0.5)


def test_training_writes_loadable_checkpoints_and_resumes_exactly(tmp_path):
    args = ["--tiny", "--batch-size", "2", "--threads", "1", "--log-every", "1", "--clip-lengths", "3,6"]
    train_main(
        ["--out", str(tmp_path / "straight"), "--steps", "3", "--export", str(tmp_path / "export"), *args]
    )
    # Stop after 2 of 3 steps (same schedule), then resume for the last one.
    train_main(["--out", str(tmp_path / "resumed"), "--steps", "3", "--until", "2", *args])
    assert [p.name for p in checkpoints(tmp_path / "resumed")] == ["step-0000002"]
    train_main(["--out", str(tmp_path / "resumed"), "--steps", "3", *args])
    straight, resumed = (checkpoints(tmp_path / name)[-1] for name in ("straight", "resumed"))
    assert straight.name == resumed.name == "step-0000003"
    a, b = load_demo_pipeline(straight), load_demo_pipeline(resumed)
    b_state = b.transformer.state_dict()
    for name, x in a.transformer.state_dict().items():
        assert torch.equal(x, b_state[name]), name
    exported = load_demo_pipeline(tmp_path / "export")
    exported.set_progress_bar_config(disable=True)
    assert _generate(exported).shape == (1, TINY.frames, TINY.height, TINY.width, 3)
    assert (tmp_path / "straight" / "log.jsonl").read_text().count("loss") == 3


def test_coarse_steps_train_on_smaller_frames_with_the_same_token_count(tmp_path, monkeypatch):
    import dit_accel.demo.train as train_module

    shapes = []

    def recording_make_batch(batch_size, g, frames, height, width, exclude):
        shapes.append((batch_size, frames, height, width))
        assert exclude == frozenset(HELD_OUT_SPECS)
        return make_batch(batch_size, g, frames=frames, height=height, width=width, exclude=exclude)

    monkeypatch.setattr(train_module, "make_batch", recording_make_batch)
    coarse = ["--coarse-steps", "2", "--coarse-size", str(TINY.height // 2), "--clip-lengths", "3"]
    train_main(
        ["--out", str(tmp_path), "--tiny", "--steps", "3", "--batch-size", "2", "--threads", "1", *coarse]
    )
    small = (2 * 4, TINY.frames, TINY.height // 2, TINY.width // 2)  # a quarter of the tokens, 4x the videos
    assert shapes == [small, small, (2, TINY.frames, TINY.height, TINY.width)]


def test_clip_lengths_vary_per_step_at_the_same_token_count(tmp_path, monkeypatch):
    import dit_accel.demo.train as train_module

    shapes = []

    def recording_make_batch(batch_size, g, frames, height, width, exclude):
        shapes.append((batch_size, frames))
        return make_batch(batch_size, g, frames=frames, height=height, width=width, exclude=exclude)

    monkeypatch.setattr(train_module, "make_batch", recording_make_batch)
    lengths = ["--clip-lengths", "3,6,12", "--coarse-steps", "0"]
    train_main(
        ["--out", str(tmp_path), "--tiny", "--steps", "12", "--batch-size", "4", "--threads", "1", *lengths]
    )
    assert set(shapes) == {(4, 3), (2, 6), (1, 12)}  # TINY clips are 3 frames: 4 x 3 = 2 x 6 = 1 x 12


@pytest.mark.parametrize("bad", ["", "9,x", "0,9"])
def test_clip_lengths_must_be_positive_frame_counts(tmp_path, capsys, bad):
    with pytest.raises(SystemExit):
        train_main(["--out", str(tmp_path), "--tiny", "--clip-lengths", bad])
    assert (
        f"--clip-lengths: expected positive frame counts like 9,17,33, got {bad!r}" in capsys.readouterr().err
    )
    assert not any(tmp_path.iterdir())


def test_object_weights_cover_the_object_and_its_edges():
    coverage = torch.zeros(1, 1, 2, 16, 16)
    coverage[..., 6:9, 6:9] = 1.0
    weights = object_weights(coverage)
    assert weights.shape == coverage.shape and weights.min() == 1
    near = torch.zeros(16, 16, dtype=torch.bool)
    near[4:11, 4:11] = True  # 2 pixels around the object
    assert torch.equal(weights[0, 0, 1] > 1, near)


def test_weighted_loss_is_the_weighted_mean_of_the_error(tiny_pipe):
    def forward(hidden_states, timestep, encoder_hidden_states):
        return SimpleNamespace(sample=torch.zeros_like(hidden_states[:, :3]))

    videos = torch.zeros(2, 3, 1, 4, 4)  # target noise - 0, prediction 0: the error is noise²
    weights = torch.ones(2, 1, 1, 4, 4)
    weights[..., :2, :] = 3.0
    loss = flow_matching_loss(
        tiny_pipe, forward, videos, ["a", "b"], torch.Generator().manual_seed(0), weights
    )
    g = torch.Generator().manual_seed(0)
    torch.rand(2, generator=g)  # the caption drop draws first
    error = torch.randn(videos.shape, generator=g) ** 2
    weights = weights.expand_as(error)
    torch.testing.assert_close(loss, (error * weights).sum() / weights.sum())


def test_coarse_size_must_be_a_multiple_of_the_patch(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_main(["--out", str(tmp_path), "--tiny", "--coarse-size", "30"])
    assert "--coarse-size must be a positive multiple of the patch side 4, got 30" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_training_noise_levels_follow_the_sampler_schedule(tiny_pipe):
    seen = []

    def forward(hidden_states, timestep, encoder_hidden_states):
        seen.append(timestep / 1000)
        return SimpleNamespace(sample=torch.zeros_like(hidden_states[:, :3]))

    videos = torch.zeros(4000, 3, 1, 4, 4)
    flow_matching_loss(
        tiny_pipe, forward, videos, ["a red circle"] * len(videos), torch.Generator().manual_seed(0)
    )
    drawn = seen[0].sort().values
    tiny_pipe.scheduler.set_timesteps(1000)
    schedule = tiny_pipe.scheduler.sigmas[:-1].sort().values  # what sampling visits, 1,000 steps
    levels = torch.linspace(0.05, 0.99, 48)
    gap = torch.searchsorted(drawn, levels) / len(drawn) - torch.searchsorted(schedule, levels) / len(
        schedule
    )
    assert gap.abs().max() < 0.03  # same distribution: Kolmogorov-Smirnov distance on a grid
    assert (drawn > 0.95).float().mean() > 0.1  # the steps that place the object are trained


def test_missing_weights_raise_a_clear_error(tmp_path):
    assert not weights_present(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"model_index\.json.*python -m dit_accel\.demo\.train --out"):
        load_demo_pipeline(tmp_path / "nowhere")


def test_attention_locality_per_layer(tiny_pipe):
    kwargs = {"block_size": 8, **SIZE}
    local = attention_locality(tiny_pipe, nearest=0.2, **kwargs)
    assert len(local) == TINY.layers and all(0 < x < 1 for x in local)
    everything = attention_locality(tiny_pipe, nearest=1.0, **kwargs)
    assert all(math.isclose(x, 1.0, rel_tol=1e-5) for x in everything)


@pytest.mark.skipif(not weights_present(), reason="no shipped demo weights (python -m dit_accel.demo.train)")
def test_shipped_model_follows_captions():
    """The shipped weights' measured levels (README: 7 of 20 with all four attributes right; colour 20,
    shape 9, motion 19, background 15), with a margin for other machines' rounding. Issue 18 asks 85%
    all four; these weights do not reach it."""
    result = caption_following(load_demo_pipeline(), num_inference_steps=20)
    misses = [
        (caption, got)
        for (caption, got), spec in zip(result["results"], EVAL_SPECS, strict=True)
        if got != {name: getattr(spec, name) for name in ATTRIBUTES}
    ]
    attributes = result["attributes"]
    assert attributes["colour"] >= 0.9 and attributes["motion"] >= 0.85, misses
    assert attributes["shape"] >= 0.35 and attributes["background"] >= 0.65, misses
    assert result["score"] >= 0.25, misses


def test_video_spec_caption_is_the_training_text():
    assert (
        VideoSpec("red", "circle", "moving left", "plain").caption
        == "a red circle moving left on a plain background"
    )
