"""benchmarks/gpu.sh: its CPU dry run writes every part's JSON and markdown with where it ran (so the
prepared GPU run cannot rot), and native CUDA tests refuse to fall back to the interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "DIT_ACCEL_TEST_CUDA")}
    return {**env, "PYTHON": sys.executable, **extra}


def test_dry_run_writes_every_result_with_its_environment(tmp_path):
    done = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--dry-run"],
        cwd=ROOT,
        env=_env(OUT=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=1100,  # the parts' own limits (4 x 240 s) end a stuck run first
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = (tmp_path / "gpu-run.md").read_text()
    for part in ("tests", "attention", "planning", "pipeline"):
        assert f"| {part} | ok |" in summary
    assert f"torch {torch.__version__}" in summary
    assert "passed" in (tmp_path / "gpu-tests.log").read_text()
    results = {}
    for stem in ("attention", "planning", "pipeline"):
        (path,) = tmp_path.glob(f"{stem}-*.json")
        assert path.with_suffix(".md").read_text().startswith("device: cpu")
        results[stem] = json.loads(path.read_text())
        assert {"device", "torch", "triton", "date"} <= results[stem].keys()
    layouts = {row["layout"]: row for row in results["attention"]["rows"]}
    assert {
        "even rows 1",
        "even rows 0.5",
        "radial()",
        "draft(mass=0.9)",
        "adaptive(mass=0.9)",
    } <= layouts.keys()
    # Flex runs every layout of one block size; cluster-sized blocks (semantic) say why it cannot.
    fixed = {label: row for label, row in layouts.items() if row["block"] != "cluster"}
    assert all(row["flex_ms"] is not None and row["flex_error"] is None for row in fixed.values())
    assert "one block size" in layouts["reordered(semantic, mass=0.9)"]["flex_error"]
    assert layouts["even rows 0.5"]["density"] == 0.5
    planned = {row["method"] for row in results["planning"]["rows"]}
    assert "reordered(semantic, mass=0.9) warm-started" in planned and "adaptive(mass=0.9)" in planned
    assert [case["name"] for case in results["pipeline"]["cases"]] == ["wan2.1-tiny"]


def test_unknown_argument_is_rejected():
    done = subprocess.run(["bash", "benchmarks/gpu.sh", "--fast"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown argument: --fast" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_native_cuda_tests_refuse_without_a_gpu():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/test_layout.py"],
        cwd=ROOT,
        env=_env(DIT_ACCEL_TEST_CUDA="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "DIT_ACCEL_TEST_CUDA=1 needs a CUDA device" in done.stdout + done.stderr
