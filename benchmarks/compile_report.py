"""Compile every Triton kernel of the project for CUDA targets on this (GPU-less) machine and report, per
autotune config, registers, spills, shared memory and the MMA / TMA instructions in the machine code.

    python benchmarks/compile_report.py              # sm_80, sm_90; bf16, fp16; head dims 64, 128
    python benchmarks/compile_report.py --arch 80,90,100 --jobs 2
    python benchmarks/compile_report.py --check      # exit 1 unless every shipped config is clean

Each kernel is compiled exactly as a launch at the Wan 2.1 480p shape (1 x 32,760 x 12 x D, contiguous
[B, S, H, D]) would compile it: the kernel's own argument specialization, `triton.compile` on an
`ASTSource` for `GPUTarget("cuda", arch, 32)`, the ptxas bundled with triton; `cuobjdump` beside it reads
the cubin (`--dump-resource-usage`: REG, STACK; `-sass`: HMMA / HGMMA, UTMALDG); spill bytes are the
spill stores + loads of ptxas -v. "Shipped" configs are those the autotuner keeps after pruning
(`triton_utils.clip_configs`: the block sizes, then the register budget).
Writes benchmarks/results/compile-report.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

if os.environ.get("TRITON_INTERPRET") == "1":
    sys.exit("compile_report compiles for CUDA: unset TRITON_INTERPRET")
os.environ.pop("DIT_ACCEL_AUTOTUNE", None)  # report every config the autotuner would try
# A cached kernel skips ptxas and so its -v log: compile every config afresh.
os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="compile-report-")

import torch  # noqa: E402
import triton  # noqa: E402
from triton import knobs  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource, make_backend  # noqa: E402
from triton.runtime.jit import MockTensor, create_function_from_signature  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dit_accel.atomic import json_text  # noqa: E402
from dit_accel.kernels.block_mass import triton_mass  # noqa: E402
from dit_accel.kernels.block_sparse import triton_fwd, triton_var  # noqa: E402
from dit_accel.kernels.triton_utils import clip_to_blocks  # noqa: E402

KERNEL_FILES = (
    "block_sparse/triton_fwd.py",
    "block_mass/triton_mass.py",
    "triton_utils.py",
    "block_sparse/triton_var.py",
)
BIN = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
SEQ, HEADS = 32760, 12  # Wan 2.1 1.3B at 480p
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
SASS_KINDS = ("HMMA", "HGMMA", "UTMALDG", "UTMASTG", "STL", "LDL")


def source_hash() -> str:
    """sha256 of the kernel sources, so a committed report can be checked against the code."""
    digest = hashlib.sha256()
    for name in KERNEL_FILES:
        digest.update((ROOT / "dit_accel" / "kernels" / name).read_bytes())
    return digest.hexdigest()


def _strides(*shape: int) -> list[int]:
    """Contiguous strides of `shape`."""
    out, step = [], 1
    for size in reversed(shape):
        out.append(step)
        step *= size
    return out[::-1]


@dataclass(frozen=True)
class Job:
    kernel: str
    dtype: str
    head_dim: int
    block: int
    arch: int
    config: dict  # tile sizes + num_warps + num_stages


def _launch(job: Job) -> tuple[object, list, dict]:
    """(autotuner, positional args, constexpr kwargs) of `job`'s kernel as its host wrapper launches it."""
    dt, d, blk = DTYPES[job.dtype], job.head_dim, job.block
    s, h = SEQ, HEADS
    nq = -(-s // blk)
    qkv = [*_strides(1, s, h, d)]
    meta = {"HEAD_DIM": d, "BLOCK_D": d, "INPUT_PRECISION": None, "UPCAST": False}
    lse = [MockTensor(torch.float32)]
    if job.kernel == "block_sparse_attention_fwd":
        max_k = nq // 4
        args = [*(MockTensor(dt) for _ in range(4)), *lse, MockTensor(torch.int32), MockTensor(torch.int32)]
        args += [0.1, s, s, h, *qkv * 4, *_strides(1, h, s), *_strides(1, h, nq), *_strides(1, h, nq, max_k)]
        return triton_fwd.block_sparse_attention_fwd_kernel, args, {**meta, "BLOCK_Q": blk, "BLOCK_K": blk}
    if job.kernel == "var_block_sparse_attention_fwd":
        # Cluster-sized blocks: a tile table of 64-row query tiles, key blocks walked in BLOCK_N sub-tiles.
        nk, max_k, tiles = 2 * nq, nq // 4, 2 * nq
        args = [*(MockTensor(dt) for _ in range(4)), *lse, *(MockTensor(torch.int32) for _ in range(6))]
        args += [0.1, h, *qkv * 4, *_strides(1, h, s), *_strides(1, h, nq), *_strides(1, h, nq, max_k)]
        args += [*_strides(1, h, nq + 1)[:2], *_strides(1, h, nk + 1)[:2], *_strides(1, h, tiles)[:2]]
        return triton_var.var_block_sparse_attention_fwd_kernel, args, {**meta, "BLOCK_M": triton_var.TILE_M}
    if job.kernel == "attention_lse_fwd":
        args = [MockTensor(dt), MockTensor(dt), *lse, 0.1, s, s, h, *qkv * 2, *_strides(1, h, s)]
        return triton_mass.attention_lse_fwd_kernel, args, meta
    args = [MockTensor(dt), MockTensor(dt), *lse, MockTensor(torch.float32), 0.1, s, s, h, nq]
    args += [*qkv * 2, *_strides(1, h, s), *_strides(1, h, nq, nq)]
    return triton_mass.block_attention_mass_fwd_kernel, args, {**meta, "BLOCK_Q": blk, "BLOCK_K": blk}


# Kernel -> the block sizes it is compiled for (the methods' 128 and 64; Adaptive's mass at 64; the
# cluster-sized blocks' kernel is one compile whatever the clusters: its 64-row tile is the "block").
KERNELS = {
    "block_sparse_attention_fwd": (128, 64),
    "attention_lse_fwd": (128,),
    "block_attention_mass_fwd": (64,),
    "var_block_sparse_attention_fwd": (64,),
}


def configs_of(kernel: str, head_dim: int, block: int) -> tuple[list[dict], list[dict]]:
    """(every config clipped to the block sizes, those the autotuner keeps) as dicts: the same on every
    target."""
    tuner, args, meta = _launch(Job(kernel, "bf16", head_dim, block, 0, {}))
    named = {**dict(zip(tuner.fn.arg_names, args, strict=False)), **meta}
    prune = tuner.early_config_prune
    every = clip_to_blocks(tuner.configs, named, getattr(prune, "bounds", {}))
    shipped = prune(tuner.configs, named)

    def as_dict(cfg: triton.Config) -> dict:
        return {**cfg.kwargs, "num_warps": cfg.num_warps, "num_stages": cfg.num_stages}

    return [as_dict(c) for c in every], [as_dict(c) for c in shipped]


def _tool(name: str, *args: str) -> str:
    return subprocess.run([str(BIN / name), *args], check=True, capture_output=True, text=True).stdout


def compile_job(job: Job) -> dict:
    """Compile one (kernel, dtype, head dim, block, arch, config); its resource usage and instructions."""
    tuner, args, meta = _launch(job)
    jit = tuner.fn
    target = GPUTarget("cuda", job.arch, 32)
    backend = make_backend(target)
    binder = create_function_from_signature(jit.signature, jit.params, backend)
    kwargs = {**meta, **job.config}
    bound, spec, opts = binder(*args, **kwargs)
    options, signature, constexprs, attrs = jit._pack_args(backend, kwargs, bound, spec, opts)
    start = time.perf_counter()
    knobs.nvidia.dump_ptxas_log = True  # ptxas -v: spill stores / loads
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        compiled = triton.compile(
            ASTSource(jit, signature, constexprs, attrs), target=target, options=options.__dict__
        )
    seconds = time.perf_counter() - start
    spills = [int(x) for x in re.findall(r"(\d+) bytes spill (?:stores|loads)", log.getvalue())]
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        usage = _tool("cuobjdump", "--dump-resource-usage", cubin.name)
        sass = _tool("cuobjdump", "-sass", cubin.name)
    found = dict(re.findall(r"\b(REG|STACK|SHARED|LOCAL):(\d+)", usage))
    ops = collections.Counter(
        m.split(".")[0] for m in re.findall(r"/\*[0-9a-f]{4,}\*/\s+([A-Z][A-Z0-9_.]*)", sass)
    )
    return {
        "kernel": job.kernel,
        "dtype": job.dtype,
        "head_dim": job.head_dim,
        "block": job.block,
        "arch": f"sm_{job.arch}",
        **job.config,
        "registers": int(found["REG"]),
        "spill_bytes": sum(spills),
        "stack_bytes": int(found["STACK"]),
        "shared_bytes": compiled.metadata.shared,
        **{kind.lower(): ops.get(kind, 0) for kind in SASS_KINDS},
        "compile_s": round(seconds, 2),
    }


def is_clean(row: dict) -> bool:
    """Spill-free and on tensor cores (HMMA on sm_80, HGMMA or HMMA on sm_90)."""
    return row["spill_bytes"] == 0 and (row["hmma"] + row["hgmma"]) > 0


def run(
    archs: list[int],
    dtypes: list[str],
    head_dims: list[int],
    kernels: list[str],
    shipped_only: bool,
    jobs: int,
    max_per_group: int | None = None,
) -> dict:
    todo, shipped = [], set()
    for kernel in kernels:
        blocks = KERNELS[kernel]
        for d in head_dims:
            for block in blocks:
                every, ships = configs_of(kernel, d, block)
                for arch in archs:
                    shipped |= {
                        (kernel, d, block, arch, json_text(c, indent=None, sort_keys=True)) for c in ships
                    }
                    chosen = (ships if shipped_only else every)[:max_per_group]
                    todo += [Job(kernel, dtype, d, block, arch, c) for dtype in dtypes for c in chosen]
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(compile_job, todo))
    for row, job in zip(rows, todo, strict=True):
        key = (
            job.kernel,
            job.head_dim,
            job.block,
            job.arch,
            json_text(job.config, indent=None, sort_keys=True),
        )
        row["shipped"] = key in shipped
    return {
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "ptxas": _tool("ptxas", "--version").strip().splitlines()[-1],
        "machine": "CPU only: compiled, not run",
        "shape": [1, SEQ, HEADS, "D"],
        "source_sha256": source_hash(),
        "rows": rows,
    }


def problems(report: dict) -> list[str]:
    """Every shipped config that spills or has no MMA, and every (kernel, dtype, head dim, block, arch)
    without a shipped config."""
    out, groups = [], collections.defaultdict(list)
    for r in report["rows"]:
        groups[(r["kernel"], r["dtype"], r["head_dim"], r["block"], r["arch"])].append(r)
    for key, rows in sorted(groups.items()):
        ships = [r for r in rows if r["shipped"]]
        if not ships:
            out.append(f"{key}: no shipped config")
        for r in ships:
            if not is_clean(r):
                out.append(
                    f"{key} {_config(r)}: {r['spill_bytes']} spill bytes, {r['hmma'] + r['hgmma']} MMA"
                )
    return out


def _config(r: dict) -> str:
    tiles = " ".join(f"{k}={v}" for k, v in r.items() if k in ("BLOCK_M", "BLOCK_N"))
    return f"{tiles} w{r['num_warps']} s{r['num_stages']}"


def format_table(report: dict) -> str:
    lines = [
        f"Compiled on a CPU (no GPU) with triton {report['triton']} ({report['ptxas']}), "
        f"torch {report['torch']}, {report['date']}; shape 1 x {SEQ} x {HEADS} x D, contiguous; "
        f"sources {report['source_sha256'][:12]}.",
        "spill B = ptxas spill stores + loads; stack B = the stack frame; MMA = tensor-core instructions "
        "in the SASS (HMMA: mma.sync, HGMMA: wgmma); "
        "TMA = UTMALDG. Shipped: kept by the autotuner's pruning.",
        "",
        "| kernel | dtype | D | block | arch | config | shipped | regs | spill B | stack B | smem KiB | HMMA "
        "| HGMMA | TMA |",
        "|---|---|--:|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['kernel']} | {r['dtype']} | {r['head_dim']} | {r['block']} | {r['arch']} | {_config(r)} | "
            f"{'yes' if r['shipped'] else 'no'} | {r['registers']} | {r['spill_bytes']} | "
            f"{r['stack_bytes']} | "
            f"{r['shared_bytes'] / 1024:.0f} | {r['hmma']} | {r['hgmma']} | {r['utmaldg']} |"
        )
    found = problems(report)
    lines += ["", "Shipped configs: " + ("all spill-free with MMA" if not found else "; ".join(found))]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=_ints, default=[80, 90], help="compute capabilities (default 80,90)")
    parser.add_argument("--dtypes", default="bf16,fp16", help="comma-separated: bf16, fp16")
    parser.add_argument("--head-dims", type=_ints, default=[64, 128], help="head dims (default 64,128)")
    parser.add_argument(
        "--kernels", default=",".join(KERNELS), help=f"comma-separated from {', '.join(KERNELS)}"
    )
    parser.add_argument(
        "--shipped-only", action="store_true", help="compile only the configs shipped per target"
    )
    parser.add_argument("--max-per-group", type=int, help="at most N configs per kernel/dtype/D/block/arch")
    parser.add_argument("--merge", nargs="+", type=Path, help="merge these reports (same sources) instead")
    parser.add_argument("--jobs", type=int, default=1, help="compiles in parallel (default 1)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a shipped config spills or lacks MMA")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results"), help="result folder ('' = none)"
    )
    args = parser.parse_args()
    dtypes = args.dtypes.split(",")
    if unknown := sorted(set(dtypes) - set(DTYPES)):
        parser.error(f"unknown --dtypes {', '.join(unknown)}; choose from {', '.join(DTYPES)}")
    kernels = args.kernels.split(",")
    if unknown := sorted(set(kernels) - set(KERNELS)):
        parser.error(f"unknown --kernels {', '.join(unknown)}; choose from {', '.join(KERNELS)}")
    if args.merge:
        parts = [json.loads(path.read_text()) for path in args.merge]
        if {part["source_sha256"] for part in parts} != {source_hash()}:
            parser.error("--merge: every report must be of the current kernel sources")
        report = {**parts[0], "rows": [row for part in parts for row in part["rows"]]}
    else:
        report = run(
            args.arch, dtypes, args.head_dims, kernels, args.shipped_only, args.jobs, args.max_per_group
        )
    table = format_table(report)
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compile-report.json").write_text(json_text(report, indent=1) + "\n")
        (out / "compile-report.md").write_text(table + "\n")
    if args.check and problems(report):
        sys.exit(1)


if __name__ == "__main__":
    main()
