"""Resumable batch generation: one video (or image) plus a JSON sidecar per item, written atomically."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from dit_accel.generate.items import PromptItem, process_rank
from dit_accel.generate.settings import MethodSetting, install
from dit_accel.models.spec import ModelSpec
from dit_accel.pipelines.stats import summarize
from dit_accel.video_io import stale_temps, write_image, write_json, write_video


@dataclass(frozen=True)
class GenerationJob:
    """What every item of a run shares. model_path: the --model-path given (None: registry default)."""

    spec: ModelSpec
    setting: MethodSetting
    steps: int
    guidance: float
    out: Path
    batch_size: int = 1
    model_path: str | None = None
    device: str = "cpu"
    dtype: str = "float32"

    def media_path(self, item: PromptItem) -> Path:
        return self.out / f"{item.stem}{'.png' if self.spec.is_image else '.mp4'}"

    def sidecar_path(self, item: PromptItem) -> Path:
        return self.out / f"{item.stem}.json"

    def request(self, item: PromptItem) -> dict[str, Any]:
        """What determines an item's output; a finished item whose sidecar says otherwise is redone."""
        return {
            "prompt": item.prompt,
            "seed": item.seed,
            "height": item.height,
            "width": item.width,
            "frames": item.frames,
            "steps": self.steps,
            "guidance": self.guidance,
            "model": self.spec.name,
            "model_path": self.model_path,
            **json.loads(json.dumps(self.setting.describe())),
        }

    def is_finished(self, item: PromptItem) -> bool:
        """Media and sidecar exist and the sidecar records this very request."""
        media, sidecar = self.media_path(item), self.sidecar_path(item)
        if not (media.is_file() and sidecar.is_file()):
            return False
        try:
            recorded = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return False
        return {key: recorded.get(key) for key in self.request(item)} == self.request(item)


def call_pipeline(
    pipe: Any, spec: ModelSpec, items: list[PromptItem], steps: int, guidance: float, output_type: str = "np"
) -> Any:
    """One pipeline call for `items` (same size), one CPU generator per item so that a video depends on
    its seed only, not on the batch it is in. Returns frames [B, F, H, W, 3] (images: [B, H, W, 3]) in
    [0, 1], or the latents for output_type="latent"."""
    height, width, frames = items[0].size
    kwargs: dict[str, Any] = {
        "prompt": [item.prompt for item in items],
        "height": height,
        "width": width,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "generator": [torch.Generator().manual_seed(item.seed) for item in items],
        "output_type": output_type,
        **spec.call_kwargs,
    }
    if not spec.is_image:
        kwargs["num_frames"] = frames
    out = pipe(**kwargs)
    return out.images if spec.is_image else out.frames


def _batches(items: list[PromptItem], batch_size: int) -> list[list[PromptItem]]:
    """Consecutive runs of same-size items, cut at `batch_size`."""
    batches: list[list[PromptItem]] = []
    for item in items:
        if batches and len(batches[-1]) < batch_size and batches[-1][0].size == item.size:
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


def _write(job: GenerationJob, item: PromptItem, media: Any, record: dict[str, Any]) -> None:
    path = job.media_path(item)
    for stale in stale_temps(path) + stale_temps(job.sidecar_path(item)):
        stale.unlink(missing_ok=True)
    if job.spec.is_image:
        write_image(path, media)
    else:
        write_video(path, media, job.spec.fps)
    write_json(job.sidecar_path(item), {**job.request(item), **record, "file": path.name})


def run_generation(
    pipe: Any, job: GenerationJob, items: list[PromptItem], progress: bool = True
) -> dict[str, int]:
    """Generate every unfinished item of `items` into `job.out`. Returns counts {"done", "skipped"}."""
    pending = [item for item in items if not job.is_finished(item)]
    skipped = len(items) - len(pending)
    if not pending:
        return {"done": 0, "skipped": skipped}
    job.out.mkdir(parents=True, exist_ok=True)
    pipe.set_progress_bar_config(desc="steps", leave=False, disable=not progress)
    rank, world, _ = process_rank()
    handle = install(pipe, job.setting, job.steps)
    try:
        with tqdm(total=len(pending), desc="videos", unit="item", disable=not progress) as bar:
            for batch in _batches(pending, job.batch_size):
                first = len(handle.runtime.records)
                start = time.perf_counter()
                media = call_pipeline(pipe, job.spec, batch, job.steps, job.guidance)
                seconds = time.perf_counter() - start
                attention = summarize(handle.runtime.records[first:])
                record = {
                    "seconds": seconds / len(batch),
                    "batch_seconds": seconds,
                    "batch_size": len(batch),
                    "attention": attention,
                    "device": job.device,
                    "dtype": job.dtype,
                    "rank": rank,
                    "world_size": world,
                }
                for item, result in zip(batch, media, strict=True):
                    _write(job, item, result, record)
                bar.update(len(batch))
    finally:
        handle.remove()
    return {"done": len(pending), "skipped": skipped}
