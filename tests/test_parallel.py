"""Context parallelism (diffusers' ContextParallelConfig) over gloo, Ulysses and ring on 2 processes,
Ulysses x ring on 4: each rank's output equals one process's sparse output, every rank runs sparse calls,
the plan cache works across steps, also with compiled blocks; and `generate --context-parallel` under
torchrun."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import dit_accel as da
from dit_accel.cli import main
from dit_accel.processors.parallel import TEXT_IN_SEQUENCE
from dit_accel.video_io import read_video
from tests.parallel_worker import CASES, FRAMES, ORDERS, TIMESTEPS, forward
from tests.tiny_models import tiny_flux, tiny_wan

ROOT = Path(__file__).resolve().parent.parent
WORLD = 2


def _launch(*args: str, world: int = WORLD) -> str:
    """tests/parallel_worker.py ARGS on `world` gloo ranks; returns their stdout."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(world), "--standalone"]
    command += [str(ROOT / "tests" / "parallel_worker.py"), *args]
    # Its own session, so that a hung launch is killed with all of its ranks.
    launch = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = launch.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(launch.pid, signal.SIGKILL)
        raise
    assert launch.returncode == 0, stderr[-4000:]
    return stdout


def _ranks(out: Path, world: int) -> list[dict[str, Any]]:
    _launch(str(out), world=world)
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in range(world)]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What each of 2 gloo ranks saw (tests/parallel_worker.py): Ulysses, ring, remove(), Flux."""
    return _ranks(tmp_path_factory.mktemp("parallel"), WORLD)


@pytest.fixture(scope="module")
def four_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Ulysses x ring (2 x 2) on 4 gloo ranks."""
    return _ranks(tmp_path_factory.mktemp("parallel4"), 4)


@functools.cache
def single_process(case: str) -> dict[str, Any]:
    method, options, extra = CASES[case]
    model, inputs, _ = tiny_wan(frames=FRAMES)
    handle = da.accelerate(model, method, num_inference_steps=len(TIMESTEPS), **options, **extra)
    outputs = [forward(model, inputs, t) for t in TIMESTEPS]
    stats = handle.stats()
    return {"outputs": outputs, "summary": handle.summary(), "cache_hits": sum(s.cache_hits for s in stats)}


def _check_matches_one_process(ranks: list[dict[str, Any]], key: str) -> None:
    case = key.split("/")[1]
    reference = single_process(case)
    for rank, seen in enumerate(ranks):
        result = seen[key]
        for step, (out, ref) in enumerate(zip(result["outputs"], reference["outputs"], strict=True)):
            diff = (out - ref).abs().max().item()
            assert diff < 1e-4, f"rank {rank} step {step}: max abs diff {diff}"
        # Each rank runs every self-attention call itself (sparse, for its heads / query rows), with the
        # same schedule, cache hits and density as one process.
        assert result["sparse_calls"] > 0
        for name in ("calls", "dense_calls", "dense_causes"):
            assert result["summary"][name] == reference["summary"][name], name
        assert result["summary"]["density"] == pytest.approx(reference["summary"]["density"])
        assert result["summary"]["density"] < 1.0
        assert result["cache_hits"] == reference["cache_hits"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("layout", ["ulysses", "ring"])
def test_two_ranks_match_one_process(ranks: list[dict[str, Any]], layout: str, case: str, order: str) -> None:
    _check_matches_one_process(ranks, f"{layout}/{case}/{order}")


@pytest.mark.parametrize("case", list(CASES))
def test_ulysses_times_ring_matches_one_process(four_ranks: list[dict[str, Any]], case: str) -> None:
    _check_matches_one_process(four_ranks, f"ulysses_ring/{case}/parallel_first")


@pytest.mark.parametrize("layout", ["ulysses", "ring"])
def test_compiled_blocks_match_one_process_and_compile_once(ranks: list[dict[str, Any]], layout: str) -> None:
    """compile_repeated_blocks under context parallelism: the attention op (with its all-to-alls) runs
    sparse inside the compiled blocks, and a second generation compiles nothing new."""
    key = f"{layout}/draft/compiled"
    _check_matches_one_process(ranks, key)
    reference = single_process("draft")["outputs"]
    for seen in ranks:
        assert seen[key]["new_graphs"] == 0
        for out, ref in zip(seen[key]["second_outputs"], reference, strict=True):
            assert (out - ref).abs().max().item() < 1e-4


def test_fullgraph_compile_under_context_parallelism_stops_in_diffusers_split_hook(
    ranks: list[dict[str, Any]],
) -> None:
    for seen in ranks:
        error = seen["fullgraph_error"]
        assert "Unsupported hasattr call" in error and "diffusers/hooks/context_parallel.py" in error


def test_planned_method_caches_across_steps(ranks: list[dict[str, Any]]) -> None:
    """Draft: step 0 dense by schedule, step 1 plans, step 2 reuses the plan (refresh_every=2)."""
    layers = 2
    for seen in ranks:
        for layout in ("ulysses", "ring"):
            result = seen[f"{layout}/draft/accelerate_first"]
            assert result["cache_hits"] == layers
            assert result["summary"]["dense_causes"] == {"schedule": layers}


def test_remove_leaves_diffusers_parallel_attention(ranks: list[dict[str, Any]]) -> None:
    model, inputs, _ = tiny_wan(frames=FRAMES)
    stock = forward(model, inputs)
    for seen in ranks:
        assert (seen["removed"] - stock).abs().max().item() < 1e-4


def test_text_in_the_sequence_runs_dense_parallel_attention_and_says_so(ranks: list[dict[str, Any]]) -> None:
    model, inputs, _ = tiny_flux()
    with torch.no_grad():
        stock = model(**inputs, return_dict=False)[0]
    joint_calls = len(model.transformer_blocks) + len(model.single_transformer_blocks)
    for seen in ranks:
        assert (seen["flux"]["output"] - stock).abs().max().item() < 1e-4
        assert seen["flux"]["summary"]["dense_causes"] == {TEXT_IN_SEQUENCE: joint_calls}


def _videos(out: Path) -> list[tuple[dict[str, Any], np.ndarray]]:
    sidecars = [(path, json.loads(path.read_text())) for path in sorted(out.rglob("*.json"))]
    return [(sidecar, read_video(path.parent / sidecar["file"])) for path, sidecar in sidecars]


def test_cli_context_parallel_ranks_make_each_video_together(tmp_path: Path) -> None:
    args = ["generate", "--model", "tiny-wan", "--method", "draft", "--density", "0.5", "--steps", "2"]
    args += ["--height", "64", "--width", "64", "--frames", "9", "--prompt", "a cat", "--prompt", "a dog"]
    args += ["--no-progress"]
    stdout = _launch("cli", *args, "--context-parallel", str(WORLD), "--out", str(tmp_path / "parallel"))
    assert "wrote 2 videos" in stdout and "(rank 0 of 2)" in stdout
    one = subprocess.run(
        [sys.executable, "-m", "dit_accel.cli", *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    parallel, single = _videos(tmp_path / "parallel"), _videos(tmp_path / "one")
    assert [s["prompt"] for s, _ in parallel] == [s["prompt"] for s, _ in single] == ["a cat", "a dog"]
    for (sidecar, frames), (_, reference) in zip(parallel, single, strict=True):
        assert (sidecar["rank"], sidecar["world_size"], sidecar["context_parallel"]) == (0, 2, 2)
        assert sidecar["attention"]["density"] < 1.0
        assert np.abs(frames.astype(int) - reference.astype(int)).max() <= 1


def test_cli_context_parallel_must_divide_the_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", "--model", "tiny-wan", "--prompt", "a cat", "--out", str(tmp_path)]
    assert main([*args, "--context-parallel", "2"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "dit-accel generate: error: argument --context-parallel: 2 must divide the number of processes "
        "(1; torchrun --nproc-per-node sets it)"
    )
    assert main([*args, "--context-parallel", "0"]) == 2
    assert "argument --context-parallel: must be >= 1, got 0" in capsys.readouterr().err
