"""Claim files: which process makes an item, so that any number of processes, on any machines that
share the output folder, can work on one folder and every item is made once.

An item's claims are files `.claims/<stem>.claim-<n>` in its output folder, created with O_CREAT|O_EXCL
(atomic, also over NFS v3+) and holding the owner's host, pid and a random token. The claim with the
highest n is the live one. A claim is taken over only when it is stale: its owner ran on this machine
and its pid is gone, or nobody renewed it (the owner touches its claims every HEARTBEAT_S) for
`stale_after_s`. Taking over means creating claim n+1 exclusively, so of several processes that find
the same stale claim exactly one wins; the loser sees the winner's fresh claim and moves on. Finished
items leave no claim behind, so `.claims/` lists only the items being made.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dit_accel.atomic import json_text
from dit_accel.processes import HOST, is_gone

CLAIMS_DIR = ".claims"
CLAIM_MARK = ".claim-"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0  # 20 missed heartbeats; also bounds what clock skew between machines can do


def _claim_path(base: Path, number: int) -> Path:
    return base.parent / CLAIMS_DIR / f"{base.name}{CLAIM_MARK}{number}"


def _claims(base: Path) -> list[tuple[int, Path]]:
    """The claim files of the item whose outputs are `base`.*, oldest attempt first."""
    prefix = f"{base.name}{CLAIM_MARK}"
    found = []
    for path in (base.parent / CLAIMS_DIR).glob(f"{prefix}*"):
        number = path.name[len(prefix) :]
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)


def _read(path: Path) -> dict | None:
    """A claim's record, None when it is gone or not (yet) readable."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class Claim:
    """A claim this process holds: the item (its outputs are `base`.*), the file, the token in it."""

    base: Path
    path: Path
    token: str


class Claims:
    """The claims of one process: take, check, release; renewed by a heartbeat thread while open.
    `stale_after_s`: how long an unrenewed claim of a process on another machine is respected."""

    def __init__(self, stale_after_s: float = STALE_AFTER_S, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self._held: dict[Path, Claim] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Claims:
        self._thread = threading.Thread(target=self._renew, name="claim-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for claim in list(self._held.values()):
            self.release(claim)

    def _renew(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                paths = list(self._held)
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    os.utime(path)

    def is_stale(self, path: Path) -> bool:
        """Whether the claim at `path` may be taken over (its owner is provably gone or silent)."""
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        record = _read(path)
        if record is not None and is_gone(str(record.get("host")), int(record.get("pid", 0))):
            return True
        return age > self.stale_after_s

    def held_by_other(self, base: Path) -> bool:
        """Whether another live process holds the item `base` (no claim is taken)."""
        existing = _claims(base)
        return bool(existing) and existing[-1][1] not in self._held and not self.is_stale(existing[-1][1])

    def take(self, base: Path) -> Claim | None:
        """Claim the item whose outputs are `base`.*; None when a live process holds it. The caller must
        check again whether the item is finished: its last owner may have finished it meanwhile."""
        while True:
            existing = _claims(base)
            if existing and not self.is_stale(existing[-1][1]):
                return None
            path = _claim_path(base, existing[-1][0] + 1 if existing else 0)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue  # another process won this attempt: look at its claim
            claim = Claim(base, path, secrets.token_hex(8))
            record = {"host": HOST, "pid": os.getpid(), "token": claim.token, "claimed": time.time()}
            with os.fdopen(fd, "w") as file:
                file.write(json_text(record, indent=None))
            with self._lock:
                self._held[path] = claim
            for _, superseded in existing:
                superseded.unlink(missing_ok=True)
            return claim

    def holds(self, claim: Claim) -> bool:
        """Whether `claim` is still the live claim of its item (not taken over as stale meanwhile)."""
        existing = _claims(claim.base)
        if not existing or existing[-1][1] != claim.path:
            return False
        record = _read(claim.path)
        return record is not None and record.get("token") == claim.token

    def release(self, claim: Claim) -> None:
        """Give the item up (after its files are written, or on failure); a claim taken over meanwhile
        belongs to its new owner and stays."""
        with self._lock:
            self._held.pop(claim.path, None)
        if self.holds(claim):
            claim.path.unlink(missing_ok=True)
