"""The settings the papers' public code runs each model with, per method: the model registry's
recommendations and `accelerate()`'s defaults come from `paper_settings`.

Sources (read in the papers' repositories, scripts and inference code):
- Radial Attention (mit-han-lab/radial-attention, scripts/wan_t2v_inference.sh, wan_22_t2v_inference.sh,
  hunyuan_t2v_inference.sh and radial_attn/models/*/attention.py): Wan 2.1 decay 0.2, first layer dense,
  first 12 of 50 steps dense; HunyuanVideo 0.95, no dense layer, 12 of 50; Wan 2.2 0.8, 1 layer, 11 of
  40, blocks of 64 (else 128); the first-frame sink is Wan's only.
- Sparse VideoGen 2 (svg-project/Sparse-VideoGen, scripts/*/*_sap.sh): first_times_fp 0.2 on Wan and
  0.1 on HunyuanVideo 720p, first_layers_fp 0.03, as floor(0.03 x transformer blocks) dense layers.
- DraftAttention (shawnricecake/draft-attention): density 0.1, dense while the timestep is above 945
  and in the first 2 blocks.
Step counts are kept as the share of the paper's steps, so they scale with the user's step count.
"""

from __future__ import annotations

import math
from typing import Any

from dit_accel.checks import check_choice

PAPER_MODELS = ("wan2.1", "wan2.2", "hunyuan_video")

_RADIAL = {
    "wan2.1": {"decay": 0.2, "sink": True, "block_size": 128, "dense_layers": 1, "dense_steps": 12 / 50},
    "wan2.2": {"decay": 0.8, "sink": True, "block_size": 64, "dense_layers": 1, "dense_steps": 11 / 40},
    "hunyuan_video": {
        "decay": 0.95,
        "sink": False,
        "block_size": 128,
        "dense_layers": 0,
        "dense_steps": 12 / 50,
    },
}
# (share of the steps dense, share of the transformer blocks dense)
_SVG2 = {"wan2.1": (0.2, 0.03), "wan2.2": (0.2, 0.03), "hunyuan_video": (0.1, 0.03)}
_DRAFT = {"density": 0.1, "dense_above_timestep": 945.0, "dense_layers": 2}


def paper_settings(model: str, blocks: int) -> dict[str, dict[str, Any]]:
    """Per method name, the options and schedule (accelerate() keywords) the papers use for `model`
    (one of PAPER_MODELS), a transformer of `blocks` blocks; methods no paper tuned are absent."""
    check_choice("model", model, PAPER_MODELS)
    steps, layers = _SVG2[model]
    return {
        "radial": dict(_RADIAL[model]),
        "reordered": {"order": "semantic", "dense_steps": steps, "dense_layers": math.floor(layers * blocks)},
        "draft": dict(_DRAFT),
    }
