"""Stock-vs-method evaluation: the same prompts and seeds run with the model's stock attention (the
reference, cached on disk) and with each method setting; per setting, end-to-end and attention time,
density and quality against the reference.

Fairness: the stock reference runs behind the same processor and step hook as the methods, every call on
the stock attention path (`generate.install`), with `timing=True` for both, and each setting (the reference
included) gets a warm-up generation first (kernel compilation, autotuning, allocator) that is not timed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dit_accel.atomic import atomic_path, json_text, write_json
from dit_accel.eval.metrics import Metrics, psnr, ssim
from dit_accel.generate import STOCK, MethodSetting, PromptItem, call_pipeline, install
from dit_accel.models.spec import ModelSpec
from dit_accel.video_io import to_uint8

REFERENCE = MethodSetting(STOCK)


@dataclass
class Run:
    """One timed generation. frames: uint8 [F, H, W, 3] (images: F = 1); seconds: wall time of the pipeline
    call; attention_s / plan_s: summed over attention calls; density: mean fraction of pairs computed."""

    frames: np.ndarray
    seconds: float
    attention_s: float
    plan_s: float
    density: float

    def timings(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "frames"}


@dataclass(frozen=True)
class EvalConfig:
    """What all runs share. identity: fields that, with the item, key the reference cache (model, dtype,
    ...)."""

    spec: ModelSpec
    steps: int
    guidance: float
    identity: dict[str, Any]
    warmup_steps: int = 1
    metric_device: str = "cpu"


def weights_fingerprint(pipe: Any) -> str:
    """A short hash of the first and last parameter of each transformer: the reference cache's guard against
    weights that changed under the same model name (a retrained demo model, another snapshot)."""
    digest = hashlib.sha256()
    for name, component in sorted(getattr(pipe, "components", {}).items()):
        if name.startswith("transformer") and isinstance(component, torch.nn.Module):
            params = list(component.parameters())
            for param in (params[0], params[-1]):
                digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class ReferenceCache:
    """Dense outputs on disk under `root`: <key>.npz (frames) and <key>.json (timings and what the key is)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(fields: dict[str, Any]) -> str:
        return hashlib.sha256(json_text(fields, indent=None, sort_keys=True).encode()).hexdigest()[:32]

    def load(self, key: str) -> Run | None:
        frames_path, meta_path = self.root / f"{key}.npz", self.root / f"{key}.json"
        if not (frames_path.is_file() and meta_path.is_file()):
            return None
        with np.load(frames_path) as data:
            frames = data["frames"]
        return Run(frames=frames, **json.loads(meta_path.read_text())["timings"])

    def save(self, key: str, run: Run, fields: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.root / f"{key}.npz") as tmp:
            np.savez_compressed(tmp, frames=run.frames)
        write_json(self.root / f"{key}.json", {"fields": fields, "timings": run.timings()})


def run_once(pipe: Any, config: EvalConfig, item: PromptItem, setting: MethodSetting) -> Run:
    """Generate `item` with `setting`, timed."""
    handle = install(pipe, setting, config.steps, timing=True)
    try:
        start = time.perf_counter()
        media = call_pipeline(pipe, config.spec, [item], config.steps, config.guidance)[0]
        seconds = time.perf_counter() - start
        summary = handle.summary()
    finally:
        handle.remove()
    frames = to_uint8(np.asarray(media))
    frames = frames[None] if config.spec.is_image else frames
    return Run(frames, seconds, summary["attention_s"], summary["plan_s"], summary["density"])


def warm_up(
    pipe: Any, config: EvalConfig, item: PromptItem, setting: MethodSetting, decode: bool = False
) -> None:
    """An untimed short generation with `setting` made sparse at every step; `decode` also runs the VAE
    (its first call is slow too, and it is the same for every setting, so once is enough)."""
    if config.warmup_steps <= 0:
        return
    handle = install(pipe, replace(setting, schedule={}), config.warmup_steps)
    try:
        output_type = "np" if decode else "latent"
        call_pipeline(
            pipe, config.spec, [item], config.warmup_steps, config.guidance, output_type=output_type
        )
    finally:
        handle.remove()


def references(
    pipe: Any,
    config: EvalConfig,
    items: list[PromptItem],
    cache: ReferenceCache | None,
    refresh: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[list[Run], int]:
    """The stock reference run of each item, from `cache` where present (unless `refresh`). Returns
    (runs, cached)."""
    runs, cached = [], 0
    for item in items:
        fields = {**config.identity, **asdict(item), "steps": config.steps, "guidance": config.guidance}
        fields.pop("index")
        key = ReferenceCache.key(fields)
        run = None if cache is None or refresh else cache.load(key)
        if run is not None:
            cached += 1
        else:
            log(f"{STOCK:<9} {item.stem}")
            run = run_once(pipe, config, item, REFERENCE)
            if cache is not None:
                cache.save(key, run, fields)
        runs.append(run)
    return runs, cached


def _totals(runs: list[Run]) -> dict[str, float]:
    return {
        "seconds": sum(r.seconds for r in runs),
        "attention_s": sum(r.attention_s for r in runs),
        "plan_s": sum(r.plan_s for r in runs),
        "density": sum(r.density for r in runs) / len(runs),
    }


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _mean(values: list[float | None]) -> float | None:
    return float(np.mean(values)) if values and None not in values else None


def evaluate_setting(
    pipe: Any,
    config: EvalConfig,
    items: list[PromptItem],
    setting: MethodSetting,
    reference: list[Run],
    metrics: Metrics,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run `setting` on every item and score it against the reference runs."""
    if setting.method != STOCK:
        warm_up(pipe, config, items[0], setting)
    if metrics.fid is not None:
        metrics.fid.reset()
    per_item, runs = [], []
    for item, stock in zip(items, reference, strict=True):
        log(f"{setting.name:<9} {item.stem}")
        run = run_once(pipe, config, item, setting)
        runs.append(run)
        scores = {
            "psnr": psnr(stock.frames, run.frames),
            "ssim": ssim(stock.frames, run.frames, config.metric_device),
            "lpips": metrics.lpips(stock.frames, run.frames) if metrics.lpips is not None else None,
        }
        if metrics.fid is not None:
            metrics.fid.update(stock.frames, run.frames)
        per_item.append({"index": item.index, **run.timings(), **scores})
    totals, reference_totals = _totals(runs), _totals(reference)
    return {
        "label": setting.name,
        **json.loads(json_text(setting.describe(), indent=None)),
        **totals,
        "speedup": _ratio(reference_totals["seconds"], totals["seconds"]),
        "attention_speedup": _ratio(
            reference_totals["attention_s"], totals["attention_s"] + totals["plan_s"]
        ),
        "psnr": _mean([p["psnr"] for p in per_item]),
        "ssim": _mean([p["ssim"] for p in per_item]),
        "lpips": _mean([p["lpips"] for p in per_item]),
        "fid": metrics.fid.compute() if metrics.fid is not None else None,
        "per_item": per_item,
    }


def evaluate(
    pipe: Any,
    config: EvalConfig,
    items: list[PromptItem],
    settings: list[MethodSetting],
    metrics: Metrics,
    cache: ReferenceCache | None = None,
    refresh: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Stock references, then every setting. Returns the results document (see `report.write_results`)."""
    warm_up(pipe, config, items[0], REFERENCE, decode=True)
    reference, cached = references(pipe, config, items, cache, refresh, log)
    methods = [evaluate_setting(pipe, config, items, s, reference, metrics, log) for s in settings]
    return {
        **config.identity,
        "steps": config.steps,
        "guidance": config.guidance,
        "warmup_steps": config.warmup_steps,
        "prompts": [{k: v for k, v in asdict(item).items() if k != "index"} for item in items],
        "skipped_metrics": metrics.skipped,
        STOCK: {
            **_totals(reference),
            "from_cache": cached,
            "per_item": [{"index": i.index, **r.timings()} for i, r in zip(items, reference, strict=True)],
        },
        "methods": methods,
    }
