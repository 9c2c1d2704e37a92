"""Models the CLI runs by name: specs (hub id, pipeline, sizes, recommended settings), tiny offline
pipelines and loading."""

from dit_accel.models.load import ModelNotAvailable, load_pipeline
from dit_accel.models.registry import DEFAULT_MODEL, MODELS, get_model
from dit_accel.models.spec import ModelSpec, SizeRules

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelNotAvailable",
    "ModelSpec",
    "SizeRules",
    "get_model",
    "load_pipeline",
]
