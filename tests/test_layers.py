"""The layer rule as an import contract (pyproject.toml, import-linter): the tree keeps it, and an upward
import breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports --no-cache` on the contract of pyproject.toml, importing the packages under `root`."""
    return subprocess.run(
        ["lint-imports", "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_no_module_imports_a_layer_above_it() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in ("dit_accel", "app"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("weights", "__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    dense = tmp_path / "dit_accel" / "methods" / "dense.py"
    dense.write_text(dense.read_text() + "\nimport dit_accel.pipelines.stats  # noqa: E402, F401\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    assert "0 kept, 1 broken" in result.stdout
    assert "dit_accel.methods.dense -> dit_accel.pipelines.stats" in result.stdout
