"""accelerate() on tiny pipelines and transformers: step schedule, pattern cache, stats, removal, compile."""

from __future__ import annotations

import pytest
import torch

from dit_accel.grid import TokenGrid
from dit_accel.layout import BlockLayout
from dit_accel.methods import Dense, Method, Plan, Radial
from dit_accel.models.tiny_random import tiny_wan_pipeline
from dit_accel.pipelines import accelerate
from dit_accel.pipelines.hook import STEP_CONTEXT_HOOK
from tests.helpers import METHOD_OPTIONS
from tests.helpers import wan_latents as generate
from tests.tiny_models import TINY_MODELS, tiny_wan

PROMPT = "a cat runs on the grass"


class Counting(Method):
    """A dynamic method that plans every block and remembers each plan call."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: list[tuple[TokenGrid, Plan | None]] = []
        self.plans: list[Plan] = []

    def plan(self, q, k, grid, previous=None) -> Plan:
        self.calls.append((grid, previous))
        self.plans.append(Plan(layout=BlockLayout.dense(q.shape[1], q.shape[1], 16, 16), grid=grid))
        return self.plans[-1]


@pytest.fixture(scope="module")
def pipe():
    return tiny_wan_pipeline()


def test_dense_method_reproduces_the_stock_pipeline_with_cfg_and_batches(pipe) -> None:
    kwargs = {
        "prompt": [PROMPT, "a dog jumps"],
        "negative_prompt": ["blurry", "bad"],
        "num_videos_per_prompt": 2,
    }
    reference = generate(pipe, **kwargs)
    handle = accelerate(pipe, "dense", block_size=16)
    try:
        out = generate(pipe, **kwargs)
    finally:
        handle.remove()
    assert out.shape[0] == 4
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    records = handle.runtime.records
    assert {r.branch for r in records} == {"cond", "uncond"}
    assert [(row.step, row.layer, row.calls) for row in handle.stats()] == [
        (step, layer, 2) for step in range(3) for layer in range(2)
    ]
    assert all(row.density == 1.0 and row.dense_calls == 0 for row in handle.stats())


@pytest.mark.parametrize("family", list(TINY_MODELS))
def test_step_hook_finds_each_family_grid(family: str) -> None:
    model, inputs, grid = TINY_MODELS[family]()
    with torch.no_grad():
        reference = model(**inputs, return_dict=False)[0]
        handle = accelerate(model, "dense", block_size=16)
        out = model(**inputs, return_dict=False)[0]
    handle.remove()
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    # Static plans are keyed ("static", grid, batch, device); HunyuanVideo has one grid per text length.
    planned = [key[1] for key in handle.runtime.cache.keys()]
    assert planned and all((g.frames, g.height, g.width) == grid for g in planned)
    layers = {r.layer for r in handle.runtime.records}
    assert layers == set(range(len(layers))) and len(layers) >= 1


def test_schedule_and_reported_density(pipe) -> None:
    # No sink: with it, 3 frames of 4 blocks are nearly dense (the band reads at least a block each side).
    handle = accelerate(
        pipe, "radial", decay=0.05, sink=False, block_size=16, dense_steps=0.25, dense_layers=1
    )
    try:
        out = generate(pipe, steps=4)
    finally:
        handle.remove()
    assert torch.isfinite(out).all()
    tokens = torch.zeros(1, 192, 2, 12)
    radial = Radial(decay=0.05, sink=False, block_size=16).plan(tokens, tokens, TokenGrid(3, 8, 8)).density
    assert radial < 0.9
    for row in handle.stats():
        dense = row.step == 0 or row.layer == 0  # 0.25 of 4 steps = 1 step; first block always
        assert row.dense_calls == (2 if dense else 0), row
        assert row.density == pytest.approx(1.0 if dense else radial)
    sparse = [row for row in handle.stats() if not row.dense_calls]
    assert [row.cache_hits for row in sparse] == [1, 2, 2]  # static: planned once per grid
    summary = handle.summary()
    assert summary["calls"] == 16 and summary["dense_calls"] == 10
    assert summary["plan_s"] >= 0 and summary["attention_s"] > 0


def test_remove_restores_processors_hooks_and_outputs(pipe) -> None:
    transformer = pipe.transformer
    reference = generate(pipe, steps=2)
    processors = transformer.attn_processors
    had_forward = "forward" in transformer.__dict__
    handle = accelerate(pipe, "radial", decay=0.05, block_size=16)
    sparse = generate(pipe, steps=2)
    assert not torch.allclose(sparse, reference, atol=1e-4)
    with pytest.raises(ValueError, match="already accelerated"):
        accelerate(pipe, "dense")
    handle.remove()
    assert torch.equal(generate(pipe, steps=2), reference)
    restored = transformer.attn_processors
    assert restored.keys() == processors.keys()
    assert all(restored[name] is processors[name] for name in processors)
    assert transformer._diffusers_hook.get_hook(STEP_CONTEXT_HOOK) is None
    assert ("forward" in transformer.__dict__) == had_forward


def test_pattern_cache_refreshes_and_warm_starts(pipe) -> None:
    method = Counting()
    handle = accelerate(pipe, method, refresh_every=2)
    try:
        generate(pipe, steps=4)
        first = list(method.calls)
        last = handle.runtime.last_plans()
        generate(pipe, steps=4)
    finally:
        handle.remove()
    # The plans of the last planning step (2), one per (layer, branch), read without the cache's keys.
    assert sorted((site.layer, branch) for site, branch in last) == [
        (layer, branch) for layer in (0, 1) for branch in ("cond", "uncond")
    ]
    assert {id(plan) for plan in last.values()} == {id(plan) for plan in method.plans[4:8]}
    # 2 layers x 2 branches, planned at steps 0 and 2; the step-2 plans start from the step-0 ones.
    assert len(first) == 8
    assert [previous is None for _, previous in first] == [True] * 4 + [False] * 4
    assert all(previous.grid == grid for grid, previous in first if previous is not None)
    # A new pipeline call starts from an empty cache.
    assert len(method.calls) == 16 and all(previous is None for _, previous in method.calls[8:12])
    assert {r.generation for r in handle.runtime.records} == {0, 1}
    assert [row.cache_hits for row in handle.stats() if row.generation == 0] == [0, 0, 2, 2, 0, 0, 2, 2]


def test_two_resolutions_keep_separate_plans() -> None:
    model, inputs, grid = tiny_wan()
    small = dict(inputs, hidden_states=inputs["hidden_states"][:, :, :2, :8])
    method = Counting()
    handle = accelerate(model, method, refresh_every=100)
    with torch.no_grad():
        outputs = []
        for timestep, step_inputs in ((900, inputs), (800, small), (700, inputs), (600, small)):
            step_inputs = dict(step_inputs, timestep=torch.tensor([float(timestep)]))
            outputs.append(model(**step_inputs, return_dict=False)[0])
    handle.remove()
    grids = [g for g, _ in method.calls]
    assert grids == [TokenGrid(*grid)] * 2 + [TokenGrid(2, 4, 8)] * 2  # later steps hit their own grid
    assert all(previous is None for _, previous in method.calls)
    keys = handle.runtime.cache.keys()
    assert {key[2] for key in keys} == {TokenGrid(*grid), TokenGrid(2, 4, 8)}
    assert outputs[0].shape != outputs[1].shape and all(torch.isfinite(o).all() for o in outputs)


def test_two_resolutions_in_one_handle_match_fresh_runs(pipe) -> None:
    handle = accelerate(pipe, "radial", decay=0.05, block_size=16)
    try:
        mixed = [generate(pipe, steps=2), generate(pipe, steps=2, height=96), generate(pipe, steps=2)]
    finally:
        handle.remove()
    fresh = []
    for height in (128, 96):
        handle = accelerate(pipe, "radial", decay=0.05, block_size=16)
        fresh.append(generate(pipe, steps=2, height=height))
        handle.remove()
    assert (
        torch.equal(mixed[0], fresh[0])
        and torch.equal(mixed[1], fresh[1])
        and torch.equal(mixed[2], fresh[0])
    )


def test_wan22_both_experts_share_one_step_count() -> None:
    pipe = tiny_wan_pipeline(two_experts=True)
    reference = generate(pipe, steps=4)
    handle = accelerate(pipe, "dense", block_size=16, dense_last_steps=1)
    try:
        out = generate(pipe, steps=4)
    finally:
        handle.remove()
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    steps = {(row.model, row.step) for row in handle.stats()}
    models = {model for model, _ in steps}
    assert models == {"transformer", "transformer_2"}
    assert sorted(step for _, step in steps) == [0, 1, 2, 3]
    assert [row.step for row in handle.stats() if row.dense_calls] == [3, 3]


def test_step_and_branch_tracking_without_cache_context() -> None:
    model, inputs, _ = tiny_wan()
    handle = accelerate(model, "dense", block_size=16)
    with torch.no_grad():
        for timestep in (900, 900, 800, 800, 950):
            model(**dict(inputs, timestep=torch.tensor([float(timestep)])), return_dict=False)
    handle.remove()
    seen = [(r.generation, r.step, r.branch) for r in handle.runtime.records[::2]]  # one per forward
    assert seen == [
        (0, 0, "forward0"),
        (0, 0, "forward1"),
        (0, 1, "forward0"),
        (0, 1, "forward1"),
        (1, 0, "forward0"),
    ]


def test_fractional_schedule_needs_the_step_count() -> None:
    model, inputs, _ = tiny_wan()
    handle = accelerate(model, "radial", block_size=16, dense_steps=0.2)
    with pytest.raises(ValueError, match="num_inference_steps="), torch.no_grad():
        model(**inputs, return_dict=False)
    handle.remove()
    handle = accelerate(model, "radial", block_size=16, dense_steps=0.2, num_inference_steps=5)
    with torch.no_grad():
        model(**inputs, return_dict=False)
    handle.remove()
    assert all(r.dense for r in handle.runtime.records)


def test_accelerate_rejects_bad_arguments(pipe) -> None:
    with pytest.raises(ValueError, match="unknown method 'sparse'; choose one of dense, radial"):
        accelerate(pipe, "sparse")
    with pytest.raises(ValueError, match="with a Dense instance"):
        accelerate(pipe, Dense(), block_size=16)
    with pytest.raises(ValueError, match="dense_steps as a fraction"):
        accelerate(pipe, "dense", dense_steps=1.5)
    with pytest.raises(ValueError, match="has no transformer of a supported family"):
        accelerate(object(), "dense")
    assert STEP_CONTEXT_HOOK not in pipe.transformer._diffusers_hook.hooks


@pytest.mark.parametrize("name", list(METHOD_OPTIONS))
def test_sparse_methods_give_finite_outputs_at_their_reported_density(name: str) -> None:
    model, inputs, _ = tiny_wan(frames=4)
    handle = accelerate(model, name, block_size=16, refresh_every=1, **METHOD_OPTIONS[name])
    with torch.no_grad():
        for timestep in (900.0, 800.0):  # the second step re-plans from the first (warm start)
            out = model(**dict(inputs, timestep=torch.tensor([timestep])), return_dict=False)[0]
    handle.remove()
    assert out.shape == inputs["hidden_states"].shape and torch.isfinite(out).all()
    records = handle.runtime.records
    assert len(records) == 4 and not any(r.dense for r in records)
    plans = handle.runtime.last_plans().values()
    assert len(plans) == 2 and {r.density for r in records[2:]} == {plan.density for plan in plans}
    assert all(0.0 < r.density < 1.0 for r in records)
