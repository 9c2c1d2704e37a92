"""The Triton kernels compiled for sm_80 and sm_90 on this CPU (benchmarks/compile_report.py): the
committed report shows every shipped config spill-free on tensor cores, the register budget that picks
them matches the report, and one live compile (about 10-20 s: two ptxas runs) reproduces it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import triton

from dit_accel.kernels.triton_utils import fits_registers

ROOT = Path(__file__).resolve().parent.parent
REPORT = json.loads((ROOT / "benchmarks" / "results" / "compile-report.json").read_text())
KERNELS = (
    "block_sparse_attention_fwd",
    "attention_lse_fwd",
    "block_attention_mass_fwd",
    "var_block_sparse_attention_fwd",
)


def _clean(row: dict) -> bool:
    return row["spill_bytes"] == 0 and row["hmma"] + row["hgmma"] > 0


GROUPS = sorted({(r["kernel"], r["dtype"], r["head_dim"], r["arch"]) for r in REPORT["rows"]})


def test_the_attention_kernel_is_covered_on_both_targets_and_head_dims():
    covered = {g[1:] for g in GROUPS if g[0] == "block_sparse_attention_fwd"}
    assert {("bf16", d, a) for d in (64, 128) for a in ("sm_80", "sm_90")} <= covered
    assert {g[0] for g in GROUPS} == set(KERNELS)


@pytest.mark.parametrize("group", GROUPS, ids=["-".join(map(str, g)) for g in GROUPS])
def test_every_shipped_config_is_spill_free_with_mma(group):
    kernel, dtype, head_dim, arch = group
    rows = [r for r in REPORT["rows"] if (r["kernel"], r["dtype"], r["head_dim"], r["arch"]) == group]
    shipped = [r for r in rows if r["shipped"]]
    assert shipped, "no shipped config"
    assert [r for r in shipped if not _clean(r)] == []
    mma = "hgmma" if arch == "sm_90" else "hmma"
    assert all(r[mma] > 0 for r in shipped), f"no {mma.upper()} on {arch}"


def test_register_budget_drops_every_spilling_attention_config():
    rows = [r for r in REPORT["rows"] if r["kernel"] == "block_sparse_attention_fwd"]
    for r in rows:
        cfg = triton.Config(
            {"BLOCK_M": r["BLOCK_M"], "BLOCK_N": r["BLOCK_N"]}, r["num_warps"], r["num_stages"]
        )
        assert r["shipped"] == fits_registers(cfg, r["head_dim"]), r
    assert any(r["spill_bytes"] > 0 for r in rows if not r["shipped"])  # the budget is not idle


def test_live_compile_of_the_first_shipped_attention_config_matches_the_report():
    script = (
        "import sys; sys.argv = ['compile_report']; sys.path.insert(0, 'benchmarks'); import json\n"
        "import compile_report as cr\n"
        "_, ships = cr.configs_of('block_sparse_attention_fwd', 128, 128)\n"
        "jobs = [cr.Job('block_sparse_attention_fwd', 'bf16', 128, 128, a, ships[0]) for a in (80, 90)]\n"
        "rows = [cr.compile_job(job) for job in jobs]\n"
        "print(json.dumps(rows))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "DIT_ACCEL_AUTOTUNE")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sm80, sm90 = json.loads(done.stdout.strip().splitlines()[-1])
    assert sm80["spill_bytes"] == 0 and sm80["hmma"] > 0
    assert sm90["spill_bytes"] == 0 and sm90["hgmma"] > 0
    committed = next(
        r
        for r in REPORT["rows"]
        if r["arch"] == "sm_90"
        and r["shipped"]
        and r["dtype"] == "bf16"
        and r["head_dim"] == r["block"] == 128
        and r["kernel"] == "block_sparse_attention_fwd"
    )
    assert sm90["registers"] == committed["registers"]
