"""One rank of the context-parallel tests: `python -m torch.distributed.run --nproc-per-node N
tests/parallel_worker.py OUT_DIR`. Runs every case of `CASES` on a tiny Wan transformer over gloo and saves
what each rank saw to OUT_DIR/rank<R>.pt; tests/test_parallel.py compares it with one process.
`tests/parallel_worker.py cli ARGS...` runs `dit-accel ARGS...` instead.

Work-around (tests only): diffusers 0.42's `enable_parallelism` picks the device as
`rank % torch.accelerator.device_count()`, which divides by zero on a machine without an accelerator, so the
count reads 1 while it runs."""

from __future__ import annotations

import sys
from typing import Any
from unittest import mock

import torch
import torch.distributed as dist
from diffusers import ContextParallelConfig
from torch._dynamo.utils import counters

import dit_accel as da
from dit_accel import cli
from tests.tiny_models import tiny_flux, tiny_wan

# name -> (method, method options, accelerate options); each runs TIMESTEPS forwards.
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "radial": ("radial", {"block_size": 16, "dense_frames": 0, "decay": 0.5}, {}),
    "draft": ("draft", {"block_size": 16, "density": 0.5}, {"refresh_every": 2, "dense_steps": 1}),
}
TIMESTEPS = (900.0, 700.0, 500.0)
FRAMES = 4
# Context-parallel layouts by world size: name -> ContextParallelConfig arguments.
LAYOUTS: dict[int, dict[str, dict[str, int]]] = {
    2: {"ulysses": {"ulysses_degree": 2}, "ring": {"ring_degree": 2}},
    4: {"ulysses_ring": {"ulysses_degree": 2, "ring_degree": 2}},
}
ORDERS = ("accelerate_first", "parallel_first")


def forward(model: torch.nn.Module, inputs: dict[str, Any], timestep: float = 500.0) -> torch.Tensor:
    """The output of one forward; `clone` waits for diffusers' asynchronous all-gather of it."""
    with torch.no_grad():
        return model(**{**inputs, "timestep": torch.tensor([timestep])}, return_dict=False)[0].clone()


def enable_parallelism(model: torch.nn.Module, config: ContextParallelConfig) -> None:
    with mock.patch.object(torch.accelerator, "device_count", return_value=1):
        model.enable_parallelism(config=config)


def run_case(case: str, order: str, layout: dict[str, int], compiled: bool = False) -> dict[str, Any]:
    """order: one of ORDERS; layout: ContextParallelConfig arguments; compiled: the blocks compiled
    (`compile_repeated_blocks`, Dynamo only; not fullgraph, see `fullgraph_error`) after both, and
    TIMESTEPS run twice, the second time with recompiles forbidden (outputs and stats: the first run's)."""
    method, options, extra = CASES[case]
    model, inputs, _ = tiny_wan(frames=FRAMES)
    config = ContextParallelConfig(**layout)
    if order == "parallel_first":
        enable_parallelism(model, config)
    handle = da.accelerate(model, method, num_inference_steps=len(TIMESTEPS), **options, **extra)
    if order == "accelerate_first":
        enable_parallelism(model, config)
    if compiled:
        torch._dynamo.reset()
        model.compile_repeated_blocks(fullgraph=False, backend="eager")
    outputs = [forward(model, inputs, t) for t in TIMESTEPS]
    stats = handle.stats()
    result = {
        "outputs": outputs,
        "summary": handle.summary(),
        "sparse_calls": sum(s.calls - s.dense_calls for s in stats),
        "cache_hits": sum(s.cache_hits for s in stats),
    }
    if compiled:
        graphs = counters["stats"]["unique_graphs"]
        with torch._dynamo.config.patch(error_on_recompile=True):
            second = [forward(model, inputs, t) for t in TIMESTEPS]
        result["new_graphs"] = counters["stats"]["unique_graphs"] - graphs
        result["second_outputs"] = second
    return result


def fullgraph_error(degree: int) -> str:
    """What `compile_repeated_blocks(fullgraph=True)` raises under Ulysses: diffusers 0.42's own split
    hook on the first block (`_cp_plan`) calls `inspect.signature`, which Dynamo cannot trace."""
    model, inputs, _ = tiny_wan(frames=FRAMES)
    da.accelerate(model, "draft", block_size=16, density=0.5)
    enable_parallelism(model, ContextParallelConfig(ulysses_degree=degree))
    torch._dynamo.reset()
    model.compile_repeated_blocks(fullgraph=True, backend="eager")
    try:
        forward(model, inputs)
    except torch._dynamo.exc.Unsupported as error:
        return str(error)
    return ""


def removed_output(degree: int) -> torch.Tensor:
    """accelerate(), enable_parallelism(), handle.remove(): diffusers' own parallel attention again."""
    model, inputs, _ = tiny_wan(frames=FRAMES)
    handle = da.accelerate(model, "radial")
    enable_parallelism(model, ContextParallelConfig(ulysses_degree=degree))
    handle.remove()
    return forward(model, inputs)


def flux_run(degree: int) -> dict[str, Any]:
    """Flux mixes text into each rank's chunk: diffusers' dense parallel attention runs, and says so."""
    model, inputs, _ = tiny_flux()
    handle = da.accelerate(model, "radial", block_size=16)
    enable_parallelism(model, ContextParallelConfig(ulysses_degree=degree))
    with torch.no_grad():
        output = model(**inputs, return_dict=False)[0].clone()
    return {"output": output, "summary": handle.summary()}


def main(out_dir: str) -> None:
    """Every case of CASES in each layout of this world size (4 ranks: one install order, to stay quick);
    with 2 ranks also Draft with compiled blocks, remove() and Flux."""
    dist.init_process_group("gloo")
    world = dist.get_world_size()
    results: dict[str, Any] = {}
    for name, layout in LAYOUTS[world].items():
        for case in CASES:
            for order in ORDERS if world == 2 else ORDERS[1:]:
                results[f"{name}/{case}/{order}"] = run_case(case, order, layout)
    if world == 2:
        for name in LAYOUTS[world]:
            results[f"{name}/draft/compiled"] = run_case(
                "draft", "accelerate_first", LAYOUTS[world][name], True
            )
        results["fullgraph_error"] = fullgraph_error(world)
        results["removed"] = removed_output(world)
        results["flux"] = flux_run(world)
    torch.save(results, f"{out_dir}/rank{dist.get_rank()}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    if sys.argv[1] == "cli":
        with mock.patch.object(torch.accelerator, "device_count", return_value=1):
            sys.exit(cli.main(sys.argv[2:]))
    main(sys.argv[1])
