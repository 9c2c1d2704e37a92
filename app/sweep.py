"""The sweep: the accelerated side at several values of the method's main knob, against one dense reference,
plotted as quality (PSNR) vs speedup."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import PIL.Image

from app.layout_plot import figure_image, new_figure
from app.request import InputError, Request
from app.session import Progress, Session, comparison_metrics, no_progress
from dit_accel.generate import MethodSetting
from dit_accel.methods import method_class
from dit_accel.options import option_defaults

# Values of each knob a sweep tries, sparse to dense; window sizes are scale factors of the current window.
SWEEP_VALUES: dict[str, tuple[float, ...]] = {
    "density": (0.1, 0.2, 0.35, 0.5),
    "mass": (0.5, 0.7, 0.85, 0.95),
    "decay": (0.05, 0.1, 0.2, 0.5),
    "window": (0.5, 1.0, 1.5, 2.0),
}
COLUMNS = ["setting", "speedup", "attention speedup", "PSNR (dB)", "SSIM", "density"]


def sweep_settings(setting: MethodSetting) -> list[MethodSetting]:
    """`setting` with its main knob (density, mass, decay or window) set to each value of SWEEP_VALUES."""
    defaults = option_defaults(method_class(setting.method))
    knob = next((key for key in SWEEP_VALUES if key in setting.options), None)
    knob = knob or next((key for key in SWEEP_VALUES if key in defaults), None)
    if knob is None:
        raise InputError(f"{setting.method} has no knob to sweep ({', '.join(SWEEP_VALUES)})")
    settings = []
    for value in SWEEP_VALUES[knob]:
        if knob == "window":
            window = setting.options.get("window", defaults["window"])
            value = tuple(max(1, math.ceil(size * value)) for size in window)
        options = {**setting.options, knob: value}
        settings.append(MethodSetting(setting.method, options, setting.schedule, label=f"{knob}={value}"))
    return settings


def run_sweep(session: Session, request: Request, progress: Progress = no_progress) -> list[dict[str, Any]]:
    """One comparison's metrics per sweep setting (the dense reference is generated once, or cached)."""
    spec, pipe = session.load(request.model)
    dense, cached = session.dense(request, progress)
    settings = sweep_settings(request.setting)
    points = []
    for index, setting in enumerate(settings):
        progress(0.5 + 0.5 * index / len(settings), f"sweep: {setting.name}")
        point = replace(request, setting=setting)
        accelerated, _ = session.accelerated(point, write=False)
        points.append({"setting": setting.name, **comparison_metrics(point, dense, accelerated, cached)})
    return points


def sweep_rows(points: list[dict[str, Any]]) -> list[list[Any]]:
    """Table rows in COLUMNS order, rounded for reading."""

    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None else round(value, digits)

    return [
        [
            p["setting"],
            rounded(p["speedup"], 2),
            rounded(p["attention_speedup"], 2),
            rounded(p["psnr_db"], 2),
            rounded(p["ssim"], 4),
            rounded(p["density"], 3),
        ]
        for p in points
    ]


def sweep_plot(points: list[dict[str, Any]], title: str) -> PIL.Image.Image:
    """PSNR against speedup, one labelled point per setting."""
    fig = new_figure()
    ax = fig.subplots()
    speedups = [p["speedup"] for p in points]
    quality = [p["psnr_db"] for p in points]
    ax.plot(speedups, quality, marker="o", linestyle=":")
    for index, p in enumerate(points):
        offset = (6, 6) if index % 2 == 0 else (6, -14)  # alternate so that close points stay readable
        ax.annotate(p["setting"], (p["speedup"], p["psnr_db"]), textcoords="offset points", xytext=offset)
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("speedup over dense (wall time of the whole generation)")
    ax.set_ylabel("PSNR vs dense (dB, higher is closer)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return figure_image(fig)
