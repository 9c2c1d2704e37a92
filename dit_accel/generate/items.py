"""The items of a run: prompts with their seeds and sizes, read from flags or a prompt file, and each
process's share under torchrun / accelerate launch."""

from __future__ import annotations

import codecs
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ITEM_KEYS = ("seed", "height", "width", "frames")
SEED_LIMIT = 2**63  # torch.Generator.manual_seed takes a signed 64-bit integer


@dataclass(frozen=True)
class PromptItem:
    """One video to make: its place in the prompt list, prompt, seed and size (pixels, frames)."""

    index: int
    prompt: str
    seed: int
    height: int
    width: int
    frames: int

    @property
    def stem(self) -> str:
        """File name without suffix: index and the prompt's first words."""
        slug = "-".join(re.findall(r"[a-z0-9]+", self.prompt.lower()))[:48].strip("-")
        return f"{self.index:05d}-{slug or 'prompt'}"

    @property
    def size(self) -> tuple[int, int, int]:
        return self.height, self.width, self.frames


def seed_error(seed: int) -> str | None:
    """Why `seed` cannot seed a torch generator, or None."""
    return None if 0 <= seed < SEED_LIMIT else f"must be in [0, 2**63), got {seed}"


def read_prompt_file(path: str | Path) -> list[dict[str, Any]]:
    """Entries of a prompt file (utf-8, a byte order mark allowed): one prompt per line, or JSON Lines
    with "prompt" and optional "seed", "height", "width", "frames". Blank lines are skipped; a line that
    starts with "{" is JSON, never a prompt. ValueError names the line of a bad entry."""
    data = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8)
    entries = []
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as error:
            raise ValueError(f"line {number}: not UTF-8 text ({error.reason})") from None
        if not text:
            continue
        if not text.startswith("{"):
            entries.append({"prompt": text})
            continue
        try:
            entry = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"line {number}: not valid JSON ({error.msg})") from None
        prompt = entry.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f'line {number}: needs a non-empty string "prompt"')
        unknown = set(entry) - {"prompt", *ITEM_KEYS}
        if unknown:
            raise ValueError(
                f"line {number}: unknown keys {sorted(unknown)} (allowed: prompt, {', '.join(ITEM_KEYS)})"
            )
        for key in ITEM_KEYS:
            if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], int)):
                raise ValueError(f"line {number}: {key!r} must be an integer, got {entry[key]!r}")
        if "seed" in entry and (reason := seed_error(entry["seed"])):
            raise ValueError(f"line {number}: 'seed' {reason}")
        entries.append(entry)
    if not entries:
        raise ValueError("no prompts in the file")
    return entries


def make_items(
    entries: list[dict[str, Any]], seed: int, height: int, width: int, frames: int
) -> list[PromptItem]:
    """Items from prompt entries: an entry's own seed/size wins, else `seed + index` and the given size."""
    return [
        PromptItem(
            index=i,
            prompt=entry["prompt"].strip(),
            seed=entry.get("seed", seed + i),
            height=entry.get("height", height),
            width=entry.get("width", width),
            frames=entry.get("frames", frames),
        )
        for i, entry in enumerate(entries)
    ]


def process_rank() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the environment torchrun and `accelerate launch` set; (0, 1, 0)."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def shard(items: list[PromptItem], rank: int, world: int) -> list[PromptItem]:
    """This process's share: every world-th item from `rank` (balanced when sizes differ along the list)."""
    return items[rank::world]
