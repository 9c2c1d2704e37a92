"""Files that appear under their final name only when complete, and strict JSON.

A file is written to a hidden temporary sibling named after its writer (pid, host and a random token,
so processes on several machines never share one) and renamed over the final name when complete.
A temporary file is removed by someone else only when its writer is provably gone or it is older
than a limit, never while its writer may still be writing it."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dit_accel.processes import HOST, is_gone

TMP_MARK = ".tmp-"


def temp_name(path: Path) -> Path:
    """The hidden temporary sibling of `path` for this process: .<stem>.tmp-<pid>-<host>-<token><suffix>
    (same suffix, so writers pick the same format)."""
    token = secrets.token_hex(4)
    return path.with_name(f".{path.stem}{TMP_MARK}{os.getpid()}-{HOST}-{token}{path.suffix}")


def _writer(temp: Path, path: Path) -> tuple[str, int] | None:
    """(host, pid) from a temporary file's name, None when the name does not carry them."""
    middle = temp.name[len(f".{path.stem}{TMP_MARK}") : len(temp.name) - len(path.suffix)]
    parts = middle.split("-")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    return parts[1], int(parts[0])


def orphaned_temps(path: Path, older_than_s: float) -> list[Path]:
    """Temporary files left for `path` by writers that are provably gone (this machine, pid not
    running) or, for any writer, not modified for `older_than_s` seconds."""
    orphans = []
    for temp in sorted(path.parent.glob(f".{path.stem}{TMP_MARK}*{path.suffix}")):
        writer = _writer(temp, path)
        try:
            age = time.time() - temp.stat().st_mtime
        except FileNotFoundError:  # its writer just renamed or removed it
            continue
        if (writer is not None and is_gone(*writer)) or age > older_than_s:
            orphans.append(temp)
    return orphans


def _sync(path: Path) -> None:
    """Flush `path` to the disk, so that a crash right after the rename leaves no empty final file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is synced and renamed to `path`, on error removed."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        yield tmp
        _sync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _finite(data: Any) -> Any:
    """`data` with every NaN / infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def json_text(data: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """`data` as strict JSON (loads with any parser): non-finite floats become null, objects json
    cannot encode (paths, ...) their str()."""
    return json.dumps(_finite(data), indent=indent, sort_keys=sort_keys, default=str, allow_nan=False)


def write_text(path: str | Path, text: str) -> None:
    """Write `text` (utf-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as indented strict JSON, atomically."""
    write_text(path, json_text(data) + "\n")
