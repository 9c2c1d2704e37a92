"""What the benchmarks share: timing (wall clock, or process CPU time on a shared machine), where a
result was measured, and result files (JSON, with an optional markdown table beside it) named after
the device."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from dit_accel.atomic import write_json, write_text


def cpu_clock() -> Callable[[], float]:
    """The clock CPU timings use: wall time, or with `DIT_ACCEL_BENCH_CLOCK=process` this process's CPU
    time, which a machine shared with other jobs inflates far less (run it with 1 thread: waiting
    threads of a parallel region spin and would count)."""
    return time.process_time if os.environ.get("DIT_ACCEL_BENCH_CLOCK") == "process" else time.perf_counter


def time_ms(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median time of `fn` in milliseconds after one warm-up call (CUDA events on CUDA, `cpu_clock`
    elsewhere)."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        return statistics.median(times)
    clock, times = cpu_clock(), []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append((clock() - start) * 1e3)
    return statistics.median(times)


def first_call_s(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call of `fn` (its first: compiles and autotuning included)."""
    clock = time.perf_counter if device.type == "cuda" else cpu_clock()
    start = clock()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - start


def environment(device: torch.device) -> dict[str, str | int | None]:
    """Where a benchmark ran: device name, CPU threads, torch and triton versions, today's date."""
    return {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()})",
        "threads": torch.get_num_threads(),
        "clock": "cuda events" if device.type == "cuda" else cpu_clock().__name__,
        "torch": torch.__version__,
        "triton": _triton_version(),
        "date": datetime.date.today().isoformat(),
    }


def environment_line(result: dict) -> str:
    """One line naming where a result (with `environment`'s keys) was measured."""
    return (
        f"device: {result['device']}, {result['threads']} threads, clock {result.get('clock', 'wall')}, "
        f"torch {result['torch']}, triton {result['triton']}, {result['date']}"
    )


def _triton_version() -> str | None:
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


def write_result(
    result: dict, directory: str | Path, stem: str = "attention", markdown: str | None = None
) -> Path:
    """Write `result` as strict JSON under `directory`, named after the device, and `markdown` beside it
    as .md when given; returns the JSON's path."""
    slug = "".join(c if c.isalnum() else "-" for c in result["device"].lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    path = Path(directory) / f"{stem}-{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)
    if markdown is not None:
        write_text(path.with_suffix(".md"), markdown + "\n")
    return path
