"""Declared options: a dataclass field that carries its kind, allowed values and help text.

A class declares each option once (`decay: float = number(0.2, "...", low=0, low_open=True)`) and calls
`check_options(self)` in `__post_init__`. Everything else is derived from the declaration: the
constructor's checks and error messages, `repr`, the values written to sidecars
(`option_values`), command-line flags and their parsing (`Option.parse`), the web page's knobs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dit_accel.checks import check_bool, check_choice, check_integer, check_number, describe_range

_KEY = "dit_accel.option"
KINDS = ("number", "integer", "bool", "choice", "integers", "count_or_fraction")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """What one option holds.

    kind:     "number" (a float), "integer", "bool", "choice" (one of `choices`), "integers" (`length`
              integers, a tuple) or "count_or_fraction" (an int count >= 0, or a float fraction in [0, 1]).
    help:     one line for --help and the page.
    low, high, low_open, high_open: the range of a number, or of an integer (of each of "integers").
    allow_inf: a number may be math.inf (NaN never passes).
    optional: None is allowed too (its meaning is in `help`).
    """

    kind: str
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_inf: bool = False
    optional: bool = False
    choices: tuple[Any, ...] = ()
    length: int = 0

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)

    @property
    def allowed(self) -> str:
        """The allowed values in words, e.g. "a number in (0, 1]" or "one of 'axes', 'semantic'"."""
        bounds = describe_range(self.low, self.high, self.low_open, self.high_open)
        text = {
            "number": f"a number {bounds}".strip() + (" (inf allowed)" if self.allow_inf else ""),
            "integer": f"an integer {bounds}".strip(),
            "bool": "True or False",
            "choice": "one of " + ", ".join(map(repr, self.choices)),
            "integers": f"{self.length} integers {bounds}".strip(),
            "count_or_fraction": "an integer count >= 0 or a fraction in [0, 1]",
        }[self.kind]
        return text + (" or None" if self.optional else "")

    def check(self, name: str, value: Any) -> Any:
        """`value` validated (and normalized: ints to float for numbers, lists to tuples); ValueError names
        `name` and the allowed values."""
        if value is None and self.optional:
            return None
        try:
            return self._check(value)
        except ValueError:
            raise ValueError(f"{name} {self.reason(value)}") from None

    def reason(self, value: Any) -> str:
        """What is wrong with `value`: "must be a number in (0, 1], got 1.5"."""
        return f"must be {self.allowed}, got {value!r}"

    def _check(self, value: Any) -> Any:
        low, high = self.low, self.high
        if self.kind == "number":
            opens = {"low_open": self.low_open, "high_open": self.high_open, "allow_inf": self.allow_inf}
            return check_number("", value, low, high, **opens)
        if self.kind == "integer":
            return check_integer("", value, low, high)
        if self.kind == "bool":
            return check_bool("", value)
        if self.kind == "choice":
            return check_choice("", value, self.choices)
        if self.kind == "integers":
            if not isinstance(value, (tuple, list)) or len(value) != self.length:
                raise ValueError("length")
            return tuple(check_integer("", x, low, high) for x in value)
        if isinstance(value, float):  # count_or_fraction
            return check_number("", value, 0.0, 1.0)
        return check_integer("", value, 0)

    def parse(self, text: str) -> Any:
        """Command-line text -> a value of this kind (unchecked range); ValueError says what was expected."""
        text = text.strip()
        if self.optional and text.lower() == "none":
            return None
        try:
            if self.kind == "number":
                return float(text)
            if self.kind == "integer":
                return int(text)
            if self.kind == "bool":
                if text.lower() not in _TRUE + _FALSE:
                    raise ValueError(text)
                return text.lower() in _TRUE
            if self.kind == "choice":
                numeric = all(isinstance(c, int) for c in self.choices)
                return next((c for c in self.choices if str(c) == text), int(text) if numeric else text)
            if self.kind == "integers":
                return tuple(int(part) for part in text.replace("x", ",").split(","))
            return float(text) if "." in text else int(text)
        except ValueError:
            raise ValueError(f"expected {self.allowed}, got {text!r}") from None

    @property
    def metavar(self) -> str:
        return {
            "number": "X",
            "integer": "N",
            "bool": "BOOL",
            "choice": "{" + ",".join(map(str, self.choices)) + "}",
            "integers": ",".join("N" * self.length),
            "count_or_fraction": "N|FRACTION",
        }[self.kind]


def _field(default: Any, option: Option) -> Any:
    return dataclasses.field(default=default, metadata={_KEY: option})


def number(
    default: float | None,
    help: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
    optional: bool = False,
) -> Any:
    """A float option, finite (unless `allow_inf`) and in the range."""
    return _field(default, Option("number", help, low, high, low_open, high_open, allow_inf, optional))


def integer(
    default: int | None, help: str, low: int | None = None, high: int | None = None, *, optional: bool = False
) -> Any:
    return _field(default, Option("integer", help, low, high, optional=optional))


def flag(default: bool, help: str) -> Any:
    return _field(default, Option("bool", help))


def choice(default: Any, help: str, choices: tuple[Any, ...]) -> Any:
    return _field(default, Option("choice", help, choices=tuple(choices)))


def integers(default: tuple[int, ...], help: str, low: int | None = None) -> Any:
    return _field(default, Option("integers", help, low, length=len(default)))


def count_or_fraction(default: int | float, help: str) -> Any:
    return _field(default, Option("count_or_fraction", help))


def _declared_fields(cls: type | object) -> list[dataclasses.Field]:
    """The declared-option fields of the dataclass `cls` (class or instance), in field order; none for a
    class that is not a dataclass (e.g. a user's own Method with a plain __init__)."""
    if not dataclasses.is_dataclass(cls):
        return []
    return [f for f in dataclasses.fields(cls) if _KEY in f.metadata]


def declared_options(cls: type | object) -> dict[str, Option]:
    """Option of every declared field of `cls` (a class or an instance), in field order."""
    return {f.name: f.metadata[_KEY] for f in _declared_fields(cls)}


def option_defaults(cls: type | object) -> dict[str, Any]:
    """Default of every declared option of `cls`."""
    return {f.name: f.default for f in _declared_fields(cls)}


def option_values(obj: object) -> dict[str, Any]:
    """The declared options of `obj` and their values."""
    return {name: getattr(obj, name) for name in declared_options(obj)}


def check_options(obj: object) -> None:
    """Validate and normalize every declared option of the (frozen) dataclass instance `obj`."""
    for name, option in declared_options(obj).items():
        object.__setattr__(obj, name, option.check(name, getattr(obj, name)))
