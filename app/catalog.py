"""Which models the demo offers: the embedded demo model (with how to make its weights when they are
missing) and the registered video models whose weights are on this machine (tiny ones need none)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dit_accel.demo import load_demo_pipeline, weights_present
from dit_accel.models import MODELS, ModelSpec

FALLBACK_MODEL = "tiny-wan"


@dataclass(frozen=True)
class ModelChoice:
    """A model of the dropdown. missing: why it cannot run here (one line), empty when it can."""

    name: str
    label: str
    missing: str = ""


def demo_missing(demo_weights: str | Path | None) -> str:
    """Empty when the demo weights are present, else the one-line message saying how to create them."""
    if weights_present(demo_weights):
        return ""
    try:
        load_demo_pipeline(demo_weights)
    except FileNotFoundError as error:
        return f"Demo model weights missing. {error} (This app: --demo-weights DIR.)"
    return ""


def _in_hub_cache(spec: ModelSpec) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(spec.hub_id, "model_index.json"), str)


def model_choices(demo_weights: str | Path | None = None) -> list[ModelChoice]:
    """The demo model first (always listed, so its message can be shown), then every video model that
    can run offline: tiny ones built from configs and real ones found in the Hugging Face cache."""
    missing = demo_missing(demo_weights)
    label = f"demo: {MODELS['demo'].description}"
    choices = [ModelChoice("demo", f"{label} (weights missing)" if missing else label, missing)]
    for spec in MODELS.values():
        if spec.name == "demo" or spec.is_image:
            continue
        if spec.build is not None or (spec.hub_id is not None and _in_hub_cache(spec)):
            choices.append(ModelChoice(spec.name, f"{spec.name}: {spec.description}"))
    return choices


def default_model(choices: list[ModelChoice]) -> str:
    """The demo model when it can run, else the tiny random Wan pipeline."""
    return "demo" if not choices[0].missing else FALLBACK_MODEL
