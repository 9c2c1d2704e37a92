"""The models the CLI knows by name: real diffusers checkpoints, tiny random ones and the demo model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dit_accel.methods.papers import paper_settings
from dit_accel.models.spec import Footprint, ModelSpec, SizeRules


def _tiny(builder: str, **kwargs: Any) -> Callable[[], Any]:
    """A builder from `dit_accel.models.tiny_random`, imported when called (it imports every diffusers
    family)."""

    def build() -> Any:
        from dit_accel.models import tiny_random

        return getattr(tiny_random, builder)(**kwargs)

    return build


# Starting points where no paper tuned a method for the model: the first fifth of the steps and the first
# block run dense (the early steps fix the layout of the video, where sparse attention hurts most).
RECOMMENDED = {
    "dense": {},
    "radial": {"decay": 0.2, "dense_steps": 0.2, "dense_layers": 1},
    "window": {"dense_steps": 0.2, "dense_layers": 1},
    "draft": {"density": 0.25, "dense_steps": 0.2, "dense_layers": 1},
    "reordered": {"order": "semantic", "density": 0.25, "dense_steps": 0.2, "dense_layers": 1},
    "adaptive": {"mass": 0.9, "dense_steps": 0.2, "dense_layers": 1},
}


def papers(model: str, blocks: int) -> dict[str, dict[str, Any]]:
    """RECOMMENDED with the papers' own settings (`dit_accel.methods.papers`) for `model`, a transformer
    of `blocks` blocks, wherever a paper gives them (Radial, Reordered as SVG2, Draft)."""
    return {**RECOMMENDED, **paper_settings(model, blocks)}


# Transformer blocks: Wan 2.1 1.3B and Wan 2.2 5B 30, the 14B models 40, HunyuanVideo 20 + 40 single-stream.
WAN21 = papers("wan2.1", 30)
WAN21_14B = papers("wan2.1", 40)
WAN22 = papers("wan2.2", 40)
HUNYUAN = papers("hunyuan_video", 60)
# Tiny grids hold a few hundred tokens: small blocks so that the methods are really sparse, no dense steps.
TINY_RECOMMENDED = {
    "dense": {},
    "radial": {"decay": 0.2, "block_size": 16},
    "window": {"window": (2, 4, 4), "block_size": 16},
    "draft": {"density": 0.25, "block_size": 16},
    "reordered": {"order": "semantic", "density": 0.25, "block_size": 16},
    "adaptive": {"mass": 0.9, "block_size": 16},
}
PROMPTS = (
    "A cat walks on the grass, realistic style.",
    "A red sports car drives along a coastal road at sunset, aerial shot.",
    "An astronaut rides a horse on the surface of the moon, cinematic lighting.",
    "Waves crash against a rocky shore under a stormy sky, slow motion.",
)
DEMO_PROMPTS = (
    "a red circle moving left on a plain background",
    "a yellow square moving right on a striped background",
    "a green triangle moving up on a checkered background",
    "a blue circle bouncing on a striped background",
)
TINY_PROMPTS = ("a cat runs on the grass", "a dog jumps in the water", "a red car on the street")

WAN = SizeRules(multiple=16, frame_step=4, max_side=2560, max_frames=161)
# Parameters: transformer(s) + text encoder(s) + VAE (umT5-XXL 5.7B, T5-XXL encoder 4.8B, Llama 3 8B 7.5B).
WAN_FOOTPRINT = Footprint(params=7.2e9, vae=(4, 8), patch=(1, 2, 2), dim=1536, heads=12, vae_channels=96)
TINY_PARAMS = 1e6
_wan21 = ModelSpec(
    name="wan2.1",
    family="wan",
    description="Wan 2.1 text-to-video 1.3B, 480p",
    hub_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    pipeline="WanPipeline",
    kind="video",
    height=480,
    width=832,
    frames=81,
    steps=50,
    guidance=5.0,
    fps=16,
    rules=WAN,
    footprint=WAN_FOOTPRINT,
    recommended=WAN21,
    prompts=PROMPTS,
    vae_fp32=True,
)
_hunyuan = ModelSpec(
    name="hunyuanvideo",
    family="hunyuan_video",
    description="HunyuanVideo 13B text-to-video, 720p (guidance-distilled: guidance is embedded)",
    hub_id="hunyuanvideo-community/HunyuanVideo",
    pipeline="HunyuanVideoPipeline",
    kind="video",
    height=720,
    width=1280,
    frames=129,
    steps=50,
    guidance=6.0,
    fps=24,
    rules=SizeRules(multiple=16, frame_step=4, max_side=2560, max_frames=257),
    footprint=Footprint(params=20.7e9, vae=(4, 8), patch=(1, 2, 2), dim=3072, heads=24, vae_channels=128),
    recommended=HUNYUAN,
    prompts=PROMPTS,
)
_cogvideox = ModelSpec(
    name="cogvideox",
    family="cogvideox",
    description="CogVideoX 2B text-to-video, 480x720",
    hub_id="THUDM/CogVideoX-2b",
    pipeline="CogVideoXPipeline",
    kind="video",
    height=480,
    width=720,
    frames=49,
    steps=50,
    guidance=6.0,
    fps=8,
    rules=SizeRules(multiple=16, frame_step=4, max_side=1440, max_frames=97),
    footprint=Footprint(params=6.7e9, vae=(4, 8), patch=(1, 2, 2), dim=1920, heads=30, vae_channels=128),
    recommended=RECOMMENDED,
    prompts=PROMPTS,
)
_ltx = ModelSpec(
    name="ltx-video",
    family="ltx",
    description="LTX-Video 2B text-to-video, 480x704",
    hub_id="Lightricks/LTX-Video",
    pipeline="LTXPipeline",
    kind="video",
    height=480,
    width=704,
    frames=161,
    steps=50,
    guidance=3.0,
    fps=24,
    rules=SizeRules(multiple=32, frame_step=8, max_side=2432, max_frames=513),
    footprint=Footprint(params=7.1e9, vae=(8, 32), patch=(1, 1, 1), dim=2048, heads=32, vae_channels=128),
    recommended=RECOMMENDED,
    prompts=PROMPTS,
)
_flux = ModelSpec(
    name="flux",
    family="flux",
    description="FLUX.1-dev text-to-image 12B, 1024x1024 (guidance is embedded)",
    hub_id="black-forest-labs/FLUX.1-dev",
    pipeline="FluxPipeline",
    kind="image",
    height=1024,
    width=1024,
    frames=1,
    steps=50,
    guidance=3.5,
    fps=1,
    rules=SizeRules(multiple=16, frame_step=0, max_side=4096),
    footprint=Footprint(params=16.9e9, vae=(1, 8), patch=(1, 2, 2), dim=3072, heads=24, vae_channels=128),
    recommended=RECOMMENDED,
    prompts=PROMPTS,
)
_TINY_FIELDS = {"recommended": TINY_RECOMMENDED, "prompts": TINY_PROMPTS, "hub_id": None, "steps": 4}
_tiny_wan = replace(
    _wan21,
    name="tiny-wan",
    description="a tiny random Wan 2.1 pipeline (offline, for tests and trying the tool)",
    height=128,
    width=128,
    frames=9,
    rules=SizeRules(multiple=16, frame_step=4, max_side=512, max_frames=125),  # rope_max_seq_len 32
    footprint=Footprint(params=TINY_PARAMS, vae=(4, 8), patch=(1, 2, 2), dim=24, heads=2, vae_channels=3),
    vae_fp32=False,
    build=_tiny("tiny_wan_pipeline"),
    **_TINY_FIELDS,
)

_SPECS = (
    _wan21,
    replace(
        _wan21,
        name="wan2.1-14b",
        description="Wan 2.1 text-to-video 14B, 720p",
        hub_id="Wan-AI/Wan2.1-T2V-14B-Diffusers",
        height=720,
        width=1280,
        footprint=replace(WAN_FOOTPRINT, params=19.8e9, dim=5120, heads=40),
        recommended=WAN21_14B,
    ),
    replace(
        _wan21,
        name="wan2.2",
        description="Wan 2.2 text-to-video A14B (two 14B experts: high- and low-noise transformers), 720p",
        hub_id="Wan-AI/Wan2.2-T2V-A14B-Diffusers",
        height=720,
        width=1280,
        steps=40,
        guidance=4.0,
        call_kwargs={"guidance_scale_2": 3.0},
        footprint=replace(WAN_FOOTPRINT, params=33.8e9, dim=5120, heads=40),
        recommended=WAN22,
    ),
    replace(
        _wan21,
        name="wan2.2-5b",
        description="Wan 2.2 text-image-to-video 5B (run as text-to-video), 704x1280 at 24 fps",
        hub_id="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        height=704,
        width=1280,
        frames=121,
        fps=24,
        rules=SizeRules(multiple=32, frame_step=4, max_side=2560, max_frames=241),  # VAE 16x spatial, patch 2
        footprint=replace(WAN_FOOTPRINT, params=10.8e9, vae=(4, 16), dim=3072, heads=24),
    ),
    _hunyuan,
    _cogvideox,
    replace(
        _cogvideox,
        name="cogvideox-5b",
        description="CogVideoX 5B text-to-video",
        hub_id="THUDM/CogVideoX-5b",
        footprint=replace(_cogvideox.footprint, params=10.5e9, dim=3072, heads=48),
    ),
    _ltx,
    _flux,
    replace(
        _flux,
        name="flux-schnell",
        description="FLUX.1-schnell text-to-image 12B, 4 steps",
        hub_id="black-forest-labs/FLUX.1-schnell",
        steps=4,
        guidance=0.0,
        call_kwargs={"max_sequence_length": 256},
    ),
    ModelSpec(
        name="demo",
        family="demo",
        description="the embedded demo video model (Wan transformer in pixel space, shapes on backgrounds)",
        pipeline="DemoVideoPipeline",
        kind="video",
        height=64,
        width=64,
        frames=9,
        steps=20,
        guidance=4.0,
        fps=8,
        # patch (1, 4, 4) in pixel space; rope_max_seq_len 64 bounds the patch grid per axis
        rules=SizeRules(multiple=4, frame_step=1, max_side=256, max_frames=64),
        footprint=Footprint(params=1e6, vae=(1, 1), patch=(1, 4, 4), dim=128, heads=2, vae_channels=0),
        recommended={**RECOMMENDED, "window": {**RECOMMENDED["window"], "window": (3, 8, 8)}},
        prompts=DEMO_PROMPTS,
    ),
    _tiny_wan,
    replace(
        _tiny_wan,
        name="tiny-wan2.2",
        description="a tiny random Wan 2.2 pipeline with two experts (offline)",
        guidance=4.0,
        call_kwargs={"guidance_scale_2": 3.0},
        build=_tiny("tiny_wan_pipeline", two_experts=True),
    ),
    replace(
        _hunyuan,
        name="tiny-hunyuanvideo",
        description="a tiny random HunyuanVideo pipeline (offline)",
        height=64,
        width=64,
        frames=9,
        call_kwargs={"max_sequence_length": 16, "prompt_template": {"template": "{}", "crop_start": 0}},
        rules=SizeRules(multiple=16, frame_step=4, max_side=512, max_frames=125),
        footprint=Footprint(params=TINY_PARAMS, vae=(4, 8), patch=(1, 1, 1), dim=24, heads=2, vae_channels=8),
        build=_tiny("tiny_hunyuan_video_pipeline"),
        **_TINY_FIELDS,
    ),
    replace(
        _cogvideox,
        name="tiny-cogvideox",
        description="a tiny random CogVideoX pipeline (offline)",
        height=128,
        width=128,
        frames=9,
        rules=SizeRules(multiple=16, frame_step=4, max_side=512, max_frames=125),
        footprint=Footprint(params=TINY_PARAMS, vae=(4, 8), patch=(1, 2, 2), dim=32, heads=2, vae_channels=8),
        call_kwargs={"max_sequence_length": 16},
        build=_tiny("tiny_cogvideox_pipeline"),
        **_TINY_FIELDS,
    ),
    replace(
        _ltx,
        name="tiny-ltx-video",
        description="a tiny random LTX-Video pipeline (offline; VAE 4x spatial and temporal)",
        height=32,
        width=32,
        frames=9,
        rules=SizeRules(multiple=32, frame_step=4, max_side=512, max_frames=125),
        footprint=Footprint(params=TINY_PARAMS, vae=(4, 4), patch=(1, 1, 1), dim=24, heads=2, vae_channels=8),
        call_kwargs={"max_sequence_length": 16},
        build=_tiny("tiny_ltx_pipeline"),
        **_TINY_FIELDS,
    ),
    replace(
        _flux,
        name="tiny-flux",
        description="a tiny random Flux pipeline (offline; VAE 1x, so sizes are multiples of 2)",
        height=32,
        width=32,
        rules=SizeRules(multiple=2, frame_step=0, max_side=4096),
        footprint=Footprint(params=TINY_PARAMS, vae=(1, 1), patch=(1, 2, 2), dim=32, heads=2, vae_channels=4),
        call_kwargs={"max_sequence_length": 16},
        build=_tiny("tiny_flux_pipeline"),
        **_TINY_FIELDS,
    ),
)
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
DEFAULT_MODEL = "demo"


def get_model(name: str) -> ModelSpec:
    """The spec registered as `name`; ValueError listing the valid names otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]
