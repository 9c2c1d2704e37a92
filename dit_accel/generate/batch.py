"""Resumable batch generation: one video (or image) plus a JSON sidecar per item, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from dit_accel.atomic import json_text, orphaned_temps, write_json
from dit_accel.generate.claims import Claim, Claims
from dit_accel.generate.groups import ContextGroup
from dit_accel.generate.items import PromptItem, process_rank
from dit_accel.generate.settings import MethodSetting, install
from dit_accel.models.spec import ModelSpec
from dit_accel.pipelines.stats import summarize
from dit_accel.processes import HOST
from dit_accel.video_io import write_image, write_video


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

    @property
    def folder(self) -> Path:
        """Where this run's files go: <out>/<model>-<method>/."""
        return self.out / f"{self.spec.name}-{self.setting.method}"

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
            "dtype": self.dtype,
            **json.loads(json_text(self.setting.describe(), indent=None)),
        }

    def base(self, item: PromptItem) -> Path:
        """An item's files without suffix: <folder>/<index>-<prompt words>-<id>, the id a hash of the
        whole request, so that two settings never share a file and a rerun finds its own."""
        digest = hashlib.sha256(json_text(self.request(item), indent=None, sort_keys=True).encode())
        return self.folder / f"{item.stem}-{digest.hexdigest()[:8]}"

    def media_path(self, item: PromptItem) -> Path:
        return self.base(item).with_suffix(".png" if self.spec.is_image else ".mp4")

    def sidecar_path(self, item: PromptItem) -> Path:
        return self.base(item).with_suffix(".json")

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


def _write(job: GenerationJob, item: PromptItem, media: Any, record: dict[str, Any], stale_s: float) -> None:
    """Media first, then the sidecar that marks the item finished; temporary files of gone writers of
    this item are removed (only its claim holder gets here, so no live process is writing them)."""
    path = job.media_path(item)
    for orphan in orphaned_temps(path, stale_s) + orphaned_temps(job.sidecar_path(item), stale_s):
        orphan.unlink(missing_ok=True)
    if job.spec.is_image:
        write_image(path, media)
    else:
        write_video(path, media, job.spec.fps)
    write_json(job.sidecar_path(item), {**job.request(item), **record, "file": path.name})


def _claimed_batches(
    job: GenerationJob, items: list[PromptItem], claims: Claims, counts: dict[str, int]
) -> Iterator[list[tuple[PromptItem, Claim]]]:
    """Batches of same-size items this process has claimed, claimed one batch at a time so that other
    processes get the rest. Items finished meanwhile or held by a live process are counted, not made."""
    batch: list[tuple[PromptItem, Claim]] = []
    for item in items:
        if batch and (len(batch) == job.batch_size or batch[0][0].size != item.size):
            yield batch
            batch = []
        claim = claims.take(job.base(item))
        if claim is None:
            counts["busy"] += 1
        elif job.is_finished(item):
            claims.release(claim)
            counts["skipped"] += 1
        else:
            batch.append((item, claim))
    if batch:
        yield batch


def pending_items(job: GenerationJob, items: list[PromptItem]) -> list[PromptItem]:
    """Items neither finished nor being made by another live process."""
    claims = Claims()
    return [i for i in items if not job.is_finished(i) and not claims.held_by_other(job.base(i))]


def run_generation(
    pipe: Any,
    job: GenerationJob,
    items: list[PromptItem],
    progress: bool = True,
    group: ContextGroup | None = None,
) -> dict[str, int]:
    """Make every item of `items` that is neither finished nor claimed by another live process, into
    `job.folder`. Any number of processes may share the folder. Returns counts {"done": made here,
    "skipped": already finished, "busy": being made by another process}.

    group: the context-parallel group that makes each video together; its leader decides what is
    pending, claims the batches and writes them, the others compute the same batches with it."""
    counts = {"done": 0, "skipped": 0, "busy": 0}
    pending = [item for item in items if not job.is_finished(item)]
    if group is not None:
        pending = group.from_leader(pending)
    counts["skipped"] = len(items) - len(pending)
    if not pending:
        return counts
    job.folder.mkdir(parents=True, exist_ok=True)
    pipe.set_progress_bar_config(desc="steps", leave=False, disable=not progress)
    rank, world, _ = process_rank()
    handle = install(pipe, job.setting, job.steps)
    try:
        bar = tqdm(total=len(pending), desc="items", unit="item", disable=not progress)
        with Claims() as claims, bar:
            leads = group is None or group.groups.leader
            batches = _claimed_batches(job, pending, claims, counts) if leads else None
            for batch in batches if group is None else group.shared(batches):
                first = len(handle.runtime.records)
                start = time.perf_counter()
                media = call_pipeline(pipe, job.spec, [item for item, _ in batch], job.steps, job.guidance)
                seconds = time.perf_counter() - start
                record = {
                    "seconds": seconds / len(batch),
                    "batch_seconds": seconds,
                    "batch_size": len(batch),
                    "attention": summarize(handle.runtime.records[first:]),
                    "device": job.device,
                    "rank": rank,
                    "world_size": world,
                    "context_parallel": 1 if group is None else group.groups.context,
                    "host": HOST,
                    "pid": os.getpid(),
                }
                for (item, claim), result in zip(batch, media, strict=True):
                    if claim is None:  # a follower of a context-parallel group: its leader writes
                        continue
                    if claims.holds(claim):  # else it was taken over as stale: its new owner writes it
                        _write(job, item, result, record, claims.stale_after_s)
                        counts["done"] += 1
                    claims.release(claim)
                bar.update(len(batch))
            bar.update(bar.total - bar.n)
    finally:
        handle.remove()
    return counts
