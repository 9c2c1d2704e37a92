"""The page's first setting for a model, picked from a committed eval of it: the fastest setting that stays
at PSNR >= 28 dB and SSIM >= 0.9 against the stock model. Models without such a file start with Radial at
the model's own size."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.request import BUDGETS, KNOBS, knob_defaults
from dit_accel.generate.settings import SCHEDULE_OPTIONS
from dit_accel.models import ModelSpec

FALLBACK_METHOD = "radial"
MIN_PSNR_DB, MIN_SSIM = 28.0, 0.9
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
# `dit-accel eval` result files the page picks from, per model (see README, "Methods on the demo model").
MEASURED = {"demo": RESULTS / "eval-demo-33f-cpu.json"}


@dataclass(frozen=True)
class PageDefault:
    """What the form shows first: method, its knob values (`app.request.KNOBS` plus dense_steps,
    dense_layers, refresh_every), extra options as the form's text, frames (None: the model's), and a
    line for the page saying where the choice comes from (empty for the fallback)."""

    method: str
    knobs: dict[str, Any]
    extra_options: str = ""
    frames: int | None = None
    note: str = ""
    measured: dict[str, Any] = field(default_factory=dict)


def pick(results: dict) -> dict | None:
    """The `methods` row of an eval result with the highest end-to-end speedup among those at
    PSNR >= MIN_PSNR_DB and SSIM >= MIN_SSIM that are faster than the stock model; None if none is."""
    good = [
        row
        for row in results["methods"]
        if row["psnr"] is not None
        and row["psnr"] >= MIN_PSNR_DB
        and row["ssim"] >= MIN_SSIM
        and row["speedup"] > 1
    ]
    return max(good, key=lambda row: row["speedup"], default=None)


def _form_values(spec: ModelSpec, row: dict) -> tuple[dict[str, Any], str]:
    """The knob values and extra-options text that rebuild `row`'s setting in the form."""
    knobs = knob_defaults(spec, row["method"])
    extra = {}
    for key, value in row["options"].items():
        if value is None:  # the budget the method does not select by
            continue
        if key in BUDGETS:
            knobs["budget"], knobs["amount"] = key, value
        elif key == "dense_steps" and isinstance(value, int):
            knobs[key] = value / spec.steps
        elif key in KNOBS or (key in SCHEDULE_OPTIONS and key in knobs):
            knobs[key] = value
        else:
            extra[key] = value
    return knobs, "; ".join(f"{key}={value}" for key, value in extra.items())


def page_default(spec: ModelSpec, path: Path | None = None) -> PageDefault:
    """The first setting of the page for `spec`: picked from its committed eval (`MEASURED`, or `path`),
    else Radial with the model's recommended options at its own size."""
    path = path or MEASURED.get(spec.name)
    results = json.loads(path.read_text()) if path is not None and path.is_file() else None
    row = pick(results) if results is not None else None
    if row is None:
        return PageDefault(FALLBACK_METHOD, knob_defaults(spec, FALLBACK_METHOD))
    knobs, extra = _form_values(spec, row)
    frames = results["prompts"][0]["frames"]
    count = len(results["prompts"])
    prompts = f"{count} prompt" + ("s" if count != 1 else "")
    note = (
        f"First setting: **{row['label']} at {frames} frames**, the fastest in `{path.name}` with PSNR >= "
        f"{MIN_PSNR_DB:g} dB and SSIM >= {MIN_SSIM:g} against the stock model: {row['speedup']:.2f}x wall "
        f"time, PSNR {row['psnr']:.1f} dB, SSIM {row['ssim']:.3f} ({prompts}, {results['steps']} "
        f"steps, {results['device']}, measured on this project's 2-core CPU)."
    )
    return PageDefault(row["method"], knobs, extra, frames, note, row)
