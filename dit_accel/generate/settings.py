"""Method settings: which options each method takes, their parsing and ranges, the model's recommended
values under the user's, and putting a setting on a pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dit_accel.methods.reordered import ORDERS
from dit_accel.pipelines.schedule import DenseSchedule
from dit_accel.processors.registry import make_method

if TYPE_CHECKING:
    from dit_accel.pipelines.handle import AccelerationHandle

# Option keys (flag names with "_") each method takes; the schedule keys go to accelerate() itself.
METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "dense": (),
    "radial": ("decay", "block_size"),
    "window": ("window", "block_size"),
    "draft": ("density", "mass", "block_size"),
    "reordered": ("order", "density", "mass", "block_size"),
    "adaptive": ("mass", "block_size"),
}
SCHEDULE_KEYS = ("dense_steps", "dense_layers", "refresh_every")
BLOCK_SIZES = (16, 32, 64, 128, 256)


def parse_window(text: str) -> tuple[int, ...]:
    """ "9,24,32" or "9x24x32" -> (9, 24, 32)."""
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"expected F,H,W (three integers), got {text!r}") from None


def parse_count(text: str) -> int | float:
    """ "2" -> 2 (a count), "0.2" -> 0.2 (a fraction)."""
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ValueError(f"expected a count or a fraction like 0.2, got {text!r}") from None


OPTION_PARSERS = {
    "density": float,
    "mass": float,
    "decay": float,
    "order": str,
    "window": parse_window,
    "block_size": int,
    "dense_steps": parse_count,
    "dense_layers": int,
    "refresh_every": int,
}


def option_error(key: str, value: Any) -> str | None:
    """Why `value` is out of range for option `key`, or None."""
    if key in ("density", "mass") and not 0.0 < value <= 1.0:
        return f"must be in (0, 1], got {value}"
    if key == "decay" and not value > 0.0:
        return f"must be > 0, got {value}"
    if key == "order" and value not in ORDERS:
        return f"must be one of {', '.join(ORDERS)}, got {value!r}"
    if key == "window" and (len(value) != 3 or min(value) < 1):
        return f"must be three positive integers F,H,W (tokens), got {','.join(map(str, value))}"
    if key == "block_size" and value not in BLOCK_SIZES:
        return f"must be one of {', '.join(map(str, BLOCK_SIZES))}, got {value}"
    if key == "dense_steps" and (value < 0 or (isinstance(value, float) and value > 1.0)):
        return f"must be a count >= 0 or a fraction in [0, 1], got {value}"
    if key == "dense_layers" and value < 0:
        return f"must be >= 0, got {value}"
    if key == "refresh_every" and value < 1:
        return f"must be >= 1, got {value}"
    return None


def option_flag(key: str) -> str:
    """The command-line flag of option `key`: "block_size" -> "--block-size"."""
    return "--" + key.replace("_", "-")


def applies(method: str, key: str) -> bool:
    """Whether `method` takes option `key` (dense takes none: it runs the stock path everywhere)."""
    return key in METHOD_OPTIONS[method] or (method != "dense" and key in SCHEDULE_KEYS)


def accepted_flags(method: str) -> list[str]:
    return [option_flag(key) for key in (*METHOD_OPTIONS[method], *SCHEDULE_KEYS) if applies(method, key)]


def parse_entry(entry: str) -> tuple[str, dict[str, Any]]:
    """One eval setting, "draft:density=0.1:dense-steps=2" -> ("draft", {"density": 0.1, "dense_steps": 2}).
    ValueError says what is wrong."""
    name, *pairs = entry.split(":")
    if name not in METHOD_OPTIONS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHOD_OPTIONS)}")
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in OPTION_PARSERS:
            raise ValueError(f"{entry!r}: expected name:option=value, got {pair!r}")
        if not applies(name, key):
            raise ValueError(f"{entry!r}: {option_flag(key)} does not apply to method {name!r}")
        try:
            value = OPTION_PARSERS[key](text.strip())
        except ValueError as error:
            raise ValueError(f"{entry!r}: {key}: {error}") from None
        reason = option_error(key, value)
        if reason:
            raise ValueError(f"{entry!r}: {key} {reason}")
        options[key] = value
    return name, options


@dataclass(frozen=True)
class MethodSetting:
    """One way to run attention: a method, its options and its dense schedule (accelerate() keywords)."""

    method: str
    options: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.method

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "options": {**self.options, **self.schedule}}


def resolve_setting(
    method: str, recommended: dict[str, Any], overrides: dict[str, Any], label: str = ""
) -> MethodSetting:
    """The model's recommended settings for `method`, with `overrides` (from flags) on top; density and
    mass replace each other. Keys a method does not take are dropped from the recommendation."""
    base = dict(recommended)
    if {"density", "mass"} & overrides.keys():
        base.pop("density", None)
        base.pop("mass", None)
    merged = {**base, **overrides}
    allowed = METHOD_OPTIONS[method]
    options = {key: value for key, value in merged.items() if key in allowed}
    schedule = {} if method == "dense" else {k: v for k, v in merged.items() if k in SCHEDULE_KEYS}
    return MethodSetting(method, options, schedule, label)


def install(pipe: Any, setting: MethodSetting, steps: int, timing: bool = False) -> AccelerationHandle:
    """Put `setting` on every transformer of `pipe`. "dense" is the stock SDPA path behind the same
    processor and step hook (every step dense), so it is timed and counted the same way as the methods."""
    from dit_accel.pipelines.handle import accelerate  # imports diffusers: only when a model runs

    if setting.method == "dense":
        return accelerate(pipe, "dense", dense_steps=1.0, num_inference_steps=steps, timing=timing)
    return accelerate(
        pipe, setting.method, num_inference_steps=steps, timing=timing, **setting.schedule, **setting.options
    )


def check_setting(setting: MethodSetting) -> None:
    """Build the method and the dense schedule once, so that what they reject fails before a model loads."""
    if setting.method != "dense":
        make_method(setting.method, **setting.options)
    DenseSchedule(setting.schedule.get("dense_steps", 0), 0, setting.schedule.get("dense_layers", 0))
