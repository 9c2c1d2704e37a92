"""torch.compile of accelerated transformers: fullgraph, equal to eager, nothing new compiled later."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch._dynamo.utils import counters

from dit_accel.models.tiny_random import tiny_wan_pipeline
from dit_accel.pipelines import accelerate
from tests.helpers import METHOD_OPTIONS, rel_l2, wan_latents
from tests.tiny_models import tiny_flux, tiny_wan

TIMESTEPS = (900.0, 800.0, 700.0)  # three steps: refresh_every=2 re-plans at the third


def whole(model: torch.nn.Module, backend: str) -> Callable:
    return torch.compile(model, fullgraph=True, backend=backend)


def blocks(model: torch.nn.Module, backend: str) -> Callable:
    model.compile_repeated_blocks(fullgraph=True, backend=backend)
    return model


COMPILERS = {"torch.compile": whole, "compile_repeated_blocks": blocks}


def records_of(handle, generation: int) -> list[tuple]:
    """What each attention call of one generation did (everything but the times)."""
    return [
        (r.step, r.branch, r.layer, r.dense, r.density, r.cache_hit)
        for r in handle.runtime.records
        if r.generation == generation
    ]


def generation(forward: Callable, inputs: dict) -> list[torch.Tensor]:
    with torch.no_grad():
        return [forward(**dict(inputs, timestep=torch.tensor([t])), return_dict=False)[0] for t in TIMESTEPS]


# Every method under diffusers' recommended compile_repeated_blocks, compiled after accelerate(); a static
# and a planned one whole (torch.compile's wrapper made before accelerate()); and the blocks compiled
# before accelerate(), as `dit-accel generate --compile` does.
CASES = [(method, "compile_repeated_blocks", "after") for method in METHOD_OPTIONS] + [
    ("radial", "torch.compile", "before"),
    ("draft", "torch.compile", "before"),
    ("draft", "compile_repeated_blocks", "before"),
]


SETTINGS = {"block_size": 16, "refresh_every": 2, "dense_layers": 1}


@pytest.mark.parametrize(("method", "compiler", "order"), CASES)
def test_compiled_transformer_equals_eager_and_compiles_once(method: str, compiler: str, order: str) -> None:
    reference_model, inputs, _ = tiny_wan()
    reference_handle = accelerate(reference_model, method, **SETTINGS, **METHOD_OPTIONS[method])
    eager = generation(reference_model, inputs)
    model, _, _ = tiny_wan()  # the same seeded weights
    torch._dynamo.reset()
    if order == "before":
        compiled = COMPILERS[compiler](model, "eager")
    handle = accelerate(model, method, **SETTINGS, **METHOD_OPTIONS[method])
    if order == "after":
        compiled = COMPILERS[compiler](model, "eager")
    first = generation(compiled, inputs)
    graphs = counters["stats"]["unique_graphs"]
    with torch._dynamo.config.patch(error_on_recompile=True):
        second = generation(compiled, inputs)
    handle.remove()
    assert counters["stats"]["unique_graphs"] == graphs  # the second generation compiled nothing new
    for out_first, out_second, ref in zip(first, second, eager, strict=True):
        assert rel_l2(out_first, ref) < 1e-3 and rel_l2(out_second, ref) < 1e-3
    # Compiled code still runs each layer's schedule, plan cache and refresh exactly as eager code does.
    reference = records_of(reference_handle, 0)
    assert records_of(handle, 0) == reference and records_of(handle, 1) == reference
    assert [(step, layer, dense) for step, _, layer, dense, _, _ in reference] == [
        (step, layer, layer == 0) for step in range(len(TIMESTEPS)) for layer in (0, 1)
    ]


def test_compiled_pipeline_with_cfg_compiles_nothing_in_the_second_generation() -> None:
    """aot_eager functionalizes the step token's update: the attention calls must still see each step."""
    pipe = tiny_wan_pipeline()
    handle = accelerate(pipe, "draft", block_size=16, refresh_every=2, density=0.3)

    def generate() -> torch.Tensor:
        return wan_latents(pipe, steps=3, height=64, width=64, num_frames=5)

    eager = generate()
    torch._dynamo.reset()
    pipe.transformer.compile_repeated_blocks(fullgraph=True, backend="aot_eager")
    first = generate()
    graphs = counters["stats"]["unique_graphs"]
    with torch._dynamo.config.patch(error_on_recompile=True):
        second = generate()
    handle.remove()
    assert counters["stats"]["unique_graphs"] == graphs
    assert rel_l2(first, eager) < 1e-3 and rel_l2(second, eager) < 1e-3
    reference = records_of(handle, 0)
    assert {branch for _, branch, *_ in reference} == {"cond", "uncond"}
    assert records_of(handle, 1) == reference and records_of(handle, 2) == reference


def test_flux_blocks_compile_fullgraph_and_the_whole_model_stops_in_the_step_hook() -> None:
    """Flux's step hook reads the token grid from `img_ids` values (eager, outside the blocks): the blocks
    compile with fullgraph, the whole model cannot."""
    model, inputs, _ = tiny_flux()
    handle = accelerate(model, "draft", block_size=16, density=0.3)

    def steps(forward: Callable) -> list[torch.Tensor]:
        with torch.no_grad():
            return [
                forward(**dict(inputs, timestep=torch.tensor([t])), return_dict=False)[0] for t in (0.9, 0.8)
            ]

    eager = steps(model)
    torch._dynamo.reset()
    with pytest.raises(torch._dynamo.exc.Unsupported, match="tolist"):
        steps(torch.compile(model, fullgraph=True, backend="eager"))
    torch._dynamo.reset()
    model.compile_repeated_blocks(fullgraph=True, backend="eager")
    first = steps(model)
    graphs = counters["stats"]["unique_graphs"]
    with torch._dynamo.config.patch(error_on_recompile=True):
        second = steps(model)
    handle.remove()
    assert counters["stats"]["unique_graphs"] == graphs
    for out_first, out_second, ref in zip(first, second, eager, strict=True):
        assert rel_l2(out_first, ref) < 1e-3 and rel_l2(out_second, ref) < 1e-3
    sparse = [r for r in handle.runtime.records if not r.dense]
    assert sparse and all(r.density < 1.0 for r in sparse)
