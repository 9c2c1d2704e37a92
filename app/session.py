"""Runs the demo's comparisons: loads pipelines, generates the dense reference (cached) and the accelerated
video, times both and measures how close they are."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.layout_plot import LayoutView
from app.request import InputError, Request
from dit_accel.eval.metrics import psnr, ssim
from dit_accel.generate import STOCK, MethodSetting, PromptItem, call_pipeline, install
from dit_accel.methods import Plan
from dit_accel.models import ModelNotAvailable, ModelSpec, get_model, load_pipeline
from dit_accel.pipelines import AccelerationHandle, StepRuntime
from dit_accel.processors.adapters import adapter_for_transformer
from dit_accel.video_io import to_uint8, write_video

# progress(fraction of the whole job, what is running)
Progress = Callable[[float, str], None]
STOCK_SETTING = MethodSetting(STOCK)


def no_progress(fraction: float, desc: str) -> None:
    """The default progress report: none."""


@dataclass
class Clip:
    """A generated video. seconds: wall time of the pipeline call; attention_s: attention plus planning
    seconds inside it; density: mean share of token pairs computed over all attention calls."""

    frames: np.ndarray  # uint8 [F, H, W, 3]
    path: Path | None
    seconds: float
    attention_s: float
    density: float


@dataclass
class Comparison:
    """Dense reference vs accelerated video. metrics: the numbers the page and the API show."""

    dense: Clip
    accelerated: Clip
    metrics: dict[str, Any]
    view: LayoutView


def model_shape(pipe: Any) -> tuple[int, int]:
    """(transformer blocks, attention heads) of the pipeline's first transformer."""
    transformer = pipe.transformer
    blocks = adapter_for_transformer(transformer).blocks
    layers = sum(len(getattr(transformer, name, ())) for name in blocks)
    return layers, int(transformer.config.num_attention_heads)


def _on_cpu(plan: Plan) -> Plan:
    """The layout and permutation of `plan` on the CPU, without method state: what the picture needs, kept
    off the accelerator while the page holds it."""
    permutation = None if plan.permutation is None else plan.permutation.cpu()
    keys = None if plan.key_permutation is None else plan.key_permutation.cpu()
    return Plan(layout=plan.layout.to("cpu"), grid=plan.grid, permutation=permutation, key_permutation=keys)


def plans_by_layer(runtime: StepRuntime) -> dict[int, Plan]:
    """The last plan each transformer block ran sparse attention with (the cond branch's when there are
    several; blocks that only ran dense are missing), on the CPU. Static methods share one plan."""
    chosen: dict[int, tuple[str, Plan]] = {}
    for (site, branch), plan in runtime.last_plans().items():
        if site is not None and site.layer is not None:
            if site.layer not in chosen or branch == "cond":
                chosen[site.layer] = (branch, plan)
    on_cpu: dict[int, Plan] = {}  # by id: a shared static plan is copied once
    return {layer: on_cpu.setdefault(id(plan), _on_cpu(plan)) for layer, (_, plan) in chosen.items()}


def comparison_metrics(
    request: Request, dense: Clip, accelerated: Clip, dense_cached: bool
) -> dict[str, Any]:
    """Speed and closeness of the accelerated video to the dense one."""
    setting = request.setting
    return {
        "model": request.model,
        "method": setting.method,
        "options": {**setting.options, **setting.schedule},
        "dense_seconds": dense.seconds,
        "accelerated_seconds": accelerated.seconds,
        "speedup": dense.seconds / accelerated.seconds,
        "dense_attention_seconds": dense.attention_s,
        "accelerated_attention_seconds": accelerated.attention_s,
        "attention_speedup": dense.attention_s / accelerated.attention_s if accelerated.attention_s else None,
        "density": accelerated.density,
        "psnr_db": psnr(dense.frames, accelerated.frames),
        "ssim": ssim(dense.frames, accelerated.frames),
        "dense_cached": dense_cached,
    }


class Session:
    """What the app keeps between clicks: loaded pipelines and dense references (keyed by model, prompt,
    seed, size, steps and guidance), so changing only the method re-runs only the accelerated side.
    Not thread-safe: the app runs one job at a time."""

    def __init__(
        self,
        out_dir: str | Path,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        demo_weights: str | Path | None = None,
        keep_dense: int = 8,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.device = device
        self.dtype = dtype
        self.demo_weights = demo_weights
        self.keep_dense = keep_dense
        self._pipes: OrderedDict[str, Any] = OrderedDict()
        self._dense: OrderedDict[tuple, Clip] = OrderedDict()
        self._names = itertools.count()
        self._warm: set[tuple] = set()

    def load(self, model: str) -> tuple[ModelSpec, Any]:
        """The spec and pipeline of `model` (the last two stay loaded); InputError when it cannot run here."""
        try:
            spec = get_model(model)
        except ValueError as error:
            raise InputError(str(error)) from None
        if model not in self._pipes:
            path = self.demo_weights if model == "demo" else None
            try:
                pipe = load_pipeline(spec, model_path=path, device=self.device, dtype=self.dtype)
            except ModelNotAvailable as error:
                raise InputError(str(error)) from None
            self._pipes[model] = pipe
            while len(self._pipes) > 2:
                self._pipes.popitem(last=False)
        self._pipes.move_to_end(model)
        return spec, self._pipes[model]

    def check_view(self, request: Request, pipe: Any) -> tuple[int, int]:
        """(layers, heads) of the model; InputError when the request's layer or head is out of range."""
        layers, heads = model_shape(pipe)
        if request.layer >= layers or request.head >= heads:
            raise InputError(
                f"{request.model} has layers 0-{layers - 1} and heads 0-{heads - 1}; "
                f"got layer {request.layer}, head {request.head}"
            )
        return layers, heads

    def warm_up(self, request: Request) -> None:
        """One untimed dense step, the first time a model runs at a size: the first call pays one-time costs
        (allocations, kernel selection) that would count against the dense reference and inflate speedups."""
        key = (request.model, request.height, request.width, request.frames)
        if key in self._warm:
            return
        spec, pipe = self.load(request.model)
        item = PromptItem(0, request.prompt, request.seed, request.height, request.width, request.frames)
        pipe.set_progress_bar_config(desc="warming up", leave=False)
        call_pipeline(pipe, spec, [item], 1, request.guidance)
        self._warm.add(key)

    def _generate(
        self, pipe: Any, spec: ModelSpec, request: Request, setting: MethodSetting, desc: str
    ) -> tuple[Clip, AccelerationHandle]:
        item = PromptItem(0, request.prompt, request.seed, request.height, request.width, request.frames)
        pipe.set_progress_bar_config(desc=desc, leave=False, disable=False)
        handle = install(pipe, setting, request.steps, timing=True)
        try:
            clock = handle.runtime.clock(torch.device(self.device))
            frames = call_pipeline(pipe, spec, [item], request.steps, request.guidance)[0]
            seconds = handle.runtime.clock(torch.device(self.device)) - clock
        finally:
            handle.remove()
        summary = handle.summary()
        clip = Clip(
            frames=to_uint8(np.asarray(frames)),
            path=None,
            seconds=seconds,
            attention_s=float(summary["attention_s"] + summary["plan_s"]),
            density=float(summary["density"]),
        )
        return clip, handle

    def _write(self, clip: Clip, spec: ModelSpec, label: str) -> Clip:
        clip.path = self.out_dir / f"{next(self._names):05d}-{label}.mp4"
        write_video(clip.path, clip.frames, spec.fps)
        return clip

    def dense(self, request: Request, progress: Progress = no_progress) -> tuple[Clip, bool]:
        """The dense reference video of `request` and whether it came from the cache."""
        clip = self._dense.get(request.dense_key)
        if clip is not None:
            self._dense.move_to_end(request.dense_key)
            return clip, True
        spec, pipe = self.load(request.model)
        progress(0.0, "warming up")
        self.warm_up(request)
        progress(0.05, "dense reference")
        clip, _ = self._generate(pipe, spec, request, STOCK_SETTING, "dense reference")
        self._dense[request.dense_key] = self._write(clip, spec, "dense")
        while len(self._dense) > self.keep_dense:
            _, old = self._dense.popitem(last=False)
            old.path.unlink(missing_ok=True)
        return clip, False

    def accelerated(self, request: Request, write: bool = True) -> tuple[Clip, LayoutView]:
        """The accelerated video of `request` and the plans its attention ran with."""
        spec, pipe = self.load(request.model)
        layers, heads = self.check_view(request, pipe)
        setting = request.setting
        clip, handle = self._generate(pipe, spec, request, setting, f"accelerated: {setting.method}")
        options = ", ".join(f"{k}={v}" for k, v in {**setting.options, **setting.schedule}.items())
        view = LayoutView(f"{setting.method}({options})", layers, heads, plans_by_layer(handle.runtime))
        return (self._write(clip, spec, setting.method) if write else clip), view

    def compare(self, request: Request, progress: Progress = no_progress) -> Comparison:
        """Dense reference (cached when only the method changed) and accelerated video of `request`."""
        self.check_view(request, self.load(request.model)[1])  # before the dense run, not after it
        dense, cached = self.dense(request, progress)
        progress(0.5, f"accelerated: {request.setting.method}")
        accelerated, view = self.accelerated(request)
        progress(0.95, "comparing")
        return Comparison(dense, accelerated, comparison_metrics(request, dense, accelerated, cached), view)
