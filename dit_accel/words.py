"""Counted nouns in messages."""


def plural(count: int, noun: str) -> str:
    """ "1 video", "2 videos"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
