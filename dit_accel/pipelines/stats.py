"""Per-call records of an accelerated pipeline, summed per (generation, step, model, layer)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallRecord:
    """One attention call (one planned group for padded batches)."""

    generation: int
    step: int
    branch: str
    model: str
    layer: int | None
    dense: bool
    density: float
    plan_s: float
    attention_s: float
    cache_hit: bool


@dataclass(frozen=True)
class StepLayerStats:
    """The calls of one layer at one denoising step, over branches (cond/uncond) and batch groups.

    density: mean fraction of token pairs computed (dense calls count 1.0).
    plan_s / attention_s: seconds planning / computing attention (wall clock; on CUDA accurate only
    with `timing=True`, which synchronizes around each phase).
    """

    generation: int
    step: int
    model: str
    layer: int | None
    calls: int
    dense_calls: int
    density: float
    plan_s: float
    attention_s: float
    cache_hits: int


def aggregate(records: list[CallRecord]) -> list[StepLayerStats]:
    """Sum `records` per (generation, step, model, layer), in first-seen order."""
    groups: dict[tuple, list[CallRecord]] = {}
    for record in records:
        groups.setdefault((record.generation, record.step, record.model, record.layer), []).append(record)
    return [
        StepLayerStats(
            generation=generation,
            step=step,
            model=model,
            layer=layer,
            calls=len(group),
            dense_calls=sum(r.dense for r in group),
            density=sum(r.density for r in group) / len(group),
            plan_s=sum(r.plan_s for r in group),
            attention_s=sum(r.attention_s for r in group),
            cache_hits=sum(r.cache_hit for r in group),
        )
        for (generation, step, model, layer), group in groups.items()
    ]


def summarize(records: list[CallRecord]) -> dict[str, float | int]:
    """Totals over `records`: calls, dense calls, mean density, seconds planning / attending, hit rate."""
    sparse = [r for r in records if not r.dense]
    return {
        "calls": len(records),
        "dense_calls": len(records) - len(sparse),
        "density": sum(r.density for r in records) / len(records) if records else 1.0,
        "plan_s": sum(r.plan_s for r in records),
        "attention_s": sum(r.attention_s for r in records),
        "cache_hit_rate": sum(r.cache_hit for r in sparse) / len(sparse) if sparse else 0.0,
    }
