"""Claim files and temporary files under concurrency: exactly one owner per item across processes,
stale claims taken over only when their owner is provably gone or silent, other writers' temporary
files left alone; strict JSON everywhere the project writes JSON."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import time
from pathlib import Path

import pytest

from dit_accel.atomic import orphaned_temps, temp_name, write_json
from dit_accel.generate.claims import CLAIMS_DIR, Claims
from dit_accel.processes import HOST
from tests.helpers import dead_pid, strict_json

ROOT = Path(__file__).resolve().parents[1]


def fake_claim(base: Path, number: int, host: str, pid: int, age_s: float = 0.0) -> Path:
    """A claim file as another process (`host`, `pid`) would have left it, last renewed `age_s` ago."""
    path = base.parent / CLAIMS_DIR / f"{base.name}.claim-{number}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "theirs", "claimed": 0.0}))
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def test_a_held_item_is_not_claimed_twice_and_is_free_after_release(tmp_path: Path) -> None:
    base = tmp_path / "00000-a-cat-0123abcd"
    mine, other = Claims(), Claims()
    claim = mine.take(base)
    assert claim is not None and mine.holds(claim)
    assert other.take(base) is None and other.held_by_other(base) and not mine.held_by_other(base)
    record = json.loads(claim.path.read_text())
    assert (record["host"], record["pid"]) == (HOST, os.getpid())
    mine.release(claim)
    assert not claim.path.exists() and not other.held_by_other(base)
    again = other.take(base)
    assert again is not None and other.holds(again)


@pytest.mark.parametrize(
    ("host", "alive", "age_s", "taken_over"),
    [
        (HOST, False, 0.0, True),  # this machine, pid gone: provably dead
        (HOST, True, 0.0, False),  # this machine, running
        (HOST, True, 700.0, True),  # running pid but silent for longer than the limit (pid reuse)
        ("other-machine", False, 0.0, False),  # another machine: cannot know, and it is fresh
        ("other-machine", False, 700.0, True),  # another machine, silent for longer than the limit
    ],
    ids=["dead-here", "alive-here", "silent-here", "fresh-elsewhere", "silent-elsewhere"],
)
def test_stale_claims_are_taken_over_only_when_dead_or_silent(
    tmp_path, host, alive, age_s, taken_over
) -> None:
    base = tmp_path / "00000-a-cat-0123abcd"
    theirs = fake_claim(base, 3, host, os.getpid() if alive else dead_pid(), age_s)
    claims = Claims(stale_after_s=600.0)
    claim = claims.take(base)
    assert (claim is not None) == taken_over
    if taken_over:
        assert claim.path.name.endswith(".claim-4") and not theirs.exists() and claims.holds(claim)
    else:
        assert theirs.exists() and claims.held_by_other(base)


def test_a_claim_taken_over_is_no_longer_held(tmp_path: Path) -> None:
    """A stopped owner whose claim went stale finds out before writing, and its release keeps the
    new owner's claim."""
    base = tmp_path / "00000-a-cat-0123abcd"
    slow = Claims(stale_after_s=600.0)
    claim = slow.take(base)
    old = time.time() - 700
    os.utime(claim.path, (old, old))
    new = Claims(stale_after_s=600.0).take(base)
    assert new is not None and not slow.holds(claim)
    slow.release(claim)
    assert new.path.exists()


def _race(base: Path, start: float, results, done) -> None:
    time.sleep(max(0.0, start - time.time()))
    claim = Claims().take(base)
    results.put(None if claim is None else claim.path.name)
    done.wait(timeout=60)  # a winner that exited would leave a claim of a dead pid, free to take over


@pytest.mark.parametrize("stale", [False, True], ids=["fresh-item", "stale-claim"])
def test_of_many_processes_racing_for_an_item_exactly_one_wins(tmp_path: Path, stale: bool) -> None:
    base = tmp_path / "00000-a-cat-0123abcd"
    if stale:
        fake_claim(base, 0, HOST, dead_pid())
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.time() + 0.5
    done = context.Barrier(8)
    procs = [context.Process(target=_race, args=(base, start, results, done)) for _ in range(8)]
    for proc in procs:
        proc.start()
    won = [name for name in (results.get(timeout=60) for _ in procs) if name is not None]
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0] * 8
    assert won == [f"{base.name}.claim-{1 if stale else 0}"]


def test_cleanup_removes_only_temporary_files_of_gone_or_silent_writers(tmp_path: Path) -> None:
    path = tmp_path / "00000-a-cat-0123abcd.mp4"
    live = temp_name(path)  # this process: alive
    dead = path.with_name(f".{path.stem}.tmp-{dead_pid()}-{HOST}-00000000.mp4")
    elsewhere = path.with_name(f".{path.stem}.tmp-1-other.machine-00000001.mp4")
    silent = path.with_name(f".{path.stem}.tmp-1-other.machine-00000002.mp4")
    for temp in (live, dead, elsewhere, silent):
        temp.write_bytes(b"part of a video")
    old = time.time() - 700
    os.utime(silent, (old, old))
    assert re.fullmatch(rf"\.{path.stem}\.tmp-{os.getpid()}-{re.escape(HOST)}-[0-9a-f]{{8}}\.mp4", live.name)
    assert orphaned_temps(path, older_than_s=600.0) == sorted([dead, silent])


def test_json_files_are_strict(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_json(path, {"psnr": math.inf, "rows": [{"ms": math.nan, "n": 1}], "where": tmp_path, "t": (1.5,)})
    assert strict_json(path) == {
        "psnr": None,
        "rows": [{"ms": None, "n": 1}],
        "where": str(tmp_path),
        "t": [1.5],
    }


def test_every_json_writer_goes_through_the_strict_one() -> None:
    """json.dump / json.dumps appear only in dit_accel/atomic.py, which makes every JSON text strict."""
    sources = [*ROOT.glob("dit_accel/**/*.py"), *ROOT.glob("app/*.py"), *ROOT.glob("benchmarks/*.py")]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        if path.name != "atomic.py" or path.parent.name != "dit_accel"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bjson\.dumps?\(", line)
    ]
    assert not offenders
