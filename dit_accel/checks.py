"""Argument checks shared by every layer: numbers finite and in range, integers in range, choices.

Each raises ValueError naming the argument and the allowed values, e.g.
"mass must be a number in (0, 1], got 1.5"."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def describe_range(
    low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False
) -> str:
    """The allowed values in words: "in (0, 1]", ">= 1", "> 0", "<= 50" or "" (any)."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def in_range(
    value: float,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> bool:
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """`value` as a float: a real number (not bool), finite unless `allow_inf` (NaN never), in range."""
    bounds = describe_range(low, high, low_open, high_open)
    allowed = f"a number{' ' + bounds if bounds else ''}{' (inf allowed)' if allow_inf else ''}"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or (math.isinf(value) and not allow_inf)
        or not in_range(value, low, high, low_open, high_open)
    ):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def check_integer(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """`value` as an int (not bool, not float) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not in_range(value, low, high):
        bounds = describe_range(low, high)
        raise ValueError(f"{name} must be an integer{' ' + bounds if bounds else ''}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """`value` when it is one of `choices` (compared with ==, bools never match numbers)."""
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value
