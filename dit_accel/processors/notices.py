"""Why an attention call ran dense: one warning per (cause, module kind), through diffusers' logging."""

from __future__ import annotations

from diffusers.utils import logging

logger = logging.get_logger("dit_accel")

# Why a call runs dense. The schedule's dense steps and layers are asked for: counted, never warned.
SCHEDULE = "schedule"
SHORT = "sequence below min_seq_len"
MASK = "attention mask"
MODULE = "unsupported module"


class DenseNotices:
    """Warns the first time each (cause, module kind) runs dense; later ones only count (in the runtime)."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def note(self, cause: str, kind: str) -> None:
        if cause == SCHEDULE or (cause, kind) in self._seen:
            return
        self._seen.add((cause, kind))
        logger.warning(
            f"{kind} self-attention runs dense, not sparse: {cause} (said once per cause and module kind; "
            "handle.summary()['dense_causes'] counts every call)"
        )
