"""PatternCache: plans reused across denoising steps, keyed by call site, branch, grid and batch size."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from dit_accel.methods.base import Plan


@dataclass
class CacheEntry:
    """A plan and the denoising step it was made at."""

    plan: Plan
    step: int


class PatternCache:
    """A plan made at step s serves steps s .. s + refresh_every - 1; the next step re-plans from it
    (`previous=`). Static entries never expire. Keys carry the grid, so resolutions never mix."""

    def __init__(self, refresh_every: int) -> None:
        if isinstance(refresh_every, bool) or not isinstance(refresh_every, int) or refresh_every < 1:
            raise ValueError(f"refresh_every must be a positive integer, got {refresh_every!r}")
        self.refresh_every = refresh_every
        self._entries: dict[Hashable, CacheEntry] = {}

    def get(
        self, key: Hashable, step: int, static: bool, make: Callable[[Plan | None], Plan]
    ) -> tuple[CacheEntry, bool]:
        """(entry, hit): the cached entry when still fresh, else a new one from `make(previous_plan)`."""
        entry = self._entries.get(key)
        if entry is not None and (static or step - entry.step < self.refresh_every):
            return entry, True
        entry = self._entries[key] = CacheEntry(make(entry.plan if entry is not None else None), step)
        return entry, False

    def keys(self) -> list[Hashable]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
