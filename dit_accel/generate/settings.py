"""Method settings: a method (or the model's stock attention), its options and the dense schedule, from
the model's recommended values under the user's, checked, and put on a pipeline.

Every option is declared once: a method's on its class (`dit_accel.methods`), the schedule's on `Schedule`
below. The tables here (`setting_options`, `all_options`) and so the CLI's flags, the web page's knobs and
the sidecars are derived from those declarations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dit_accel.checks import check_choice
from dit_accel.methods.base import BUDGET_KEYS, Method
from dit_accel.methods.registry import METHOD_CLASSES, make_method
from dit_accel.options import (
    Option,
    check_options,
    count_or_fraction,
    declared_options,
    integer,
    number,
    option_values,
)

if TYPE_CHECKING:
    from dit_accel.pipelines.handle import AccelerationHandle

# The untouched model: every attention call on its stock path (no method, no schedule). Timed behind the
# same processor and step hook as the methods, so it is the fair reference.
STOCK = "stock"


@dataclass(frozen=True)
class Schedule:
    """accelerate()'s keywords besides the method: which calls run dense and how long plans are reused."""

    dense_steps: int | float = count_or_fraction(0, "first denoising steps run dense")
    dense_last_steps: int | float = count_or_fraction(0, "last denoising steps run dense")
    dense_layers: int = integer(0, "first transformer blocks run dense at every step", 0)
    dense_above_timestep: float | None = number(
        None, "steps whose timestep (1000: pure noise) is above this run dense", optional=True
    )
    refresh_every: int = integer(5, "steps a dynamic method's plan is reused before it is re-planned", 1)
    min_seq_len: int = integer(0, "self-attention calls with fewer tokens run dense", 0)

    def __post_init__(self) -> None:
        check_options(self)


SCHEDULE_OPTIONS: dict[str, Option] = declared_options(Schedule)


def setting_names() -> tuple[str, ...]:
    """What a setting may run: STOCK or a registered method."""
    return (STOCK, *METHOD_CLASSES)


def method_options(method: str) -> dict[str, Option]:
    """The declared options of method `method` (none for stock)."""
    check_choice("method", method, setting_names())
    return {} if method == STOCK else declared_options(METHOD_CLASSES[method])


def setting_options(method: str) -> dict[str, Option]:
    """Every option a setting of `method` takes: the method's own, then the schedule's (stock: none)."""
    return {} if method == STOCK else {**method_options(method), **SCHEDULE_OPTIONS}


def all_options() -> dict[str, tuple[Option, tuple[str, ...]]]:
    """Every option of every setting, once: its declaration (the first method's) and the methods taking it.
    ValueError when two methods declare one name with different kinds (one flag could not parse both)."""
    table: dict[str, tuple[Option, tuple[str, ...]]] = {}
    for method in METHOD_CLASSES:
        for key, option in method_options(method).items():
            first, takers = table.get(key, (option, ()))
            if first.kind != option.kind or first.choices != option.choices:
                raise ValueError(f"option {key!r} is declared differently by {takers[0]} and {method}")
            table[key] = (first, (*takers, method))
    shadowed = sorted(table.keys() & SCHEDULE_OPTIONS.keys())
    if shadowed:
        raise ValueError(f"method options {shadowed} shadow the schedule's options")
    return {**table, **{key: (option, tuple(METHOD_CLASSES)) for key, option in SCHEDULE_OPTIONS.items()}}


def option_flag(key: str) -> str:
    """The command-line flag of option `key`: "block_size" -> "--block-size"."""
    return "--" + key.replace("_", "-")


def applies(method: str, key: str) -> bool:
    """Whether `method` takes option `key`."""
    return key in setting_options(method)


def accepted_flags(method: str) -> list[str]:
    return [option_flag(key) for key in setting_options(method)]


def parse_entry(entry: str) -> tuple[str, dict[str, Any]]:
    """One eval setting, "draft:density=0.1:dense-steps=2" -> ("draft", {"density": 0.1, "dense_steps": 2}).
    ValueError says what is wrong."""
    name, *pairs = entry.split(":")
    if name not in setting_names():
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(setting_names())}")
    takes, known = setting_options(name), all_options()
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise ValueError(f"{entry!r}: expected name:option=value, got {pair!r}")
        if key not in takes:
            raise ValueError(f"{entry!r}: {option_flag(key)} does not apply to method {name!r}")
        try:
            options[key] = takes[key].check(key, takes[key].parse(text))
        except ValueError as error:
            raise ValueError(f"{entry!r}: {error}") from None
    return name, options


@dataclass(frozen=True)
class MethodSetting:
    """One way to run attention: a method (or STOCK), its keyword options and schedule (accelerate()
    keywords), as given; unset ones take their declared defaults."""

    method: str = STOCK
    options: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.method

    def build(self) -> tuple[Method | None, Schedule]:
        """The method (None for stock) and schedule; ValueError names a bad option and its allowed values."""
        if self.method == STOCK:
            if self.options or self.schedule:
                raise ValueError(f"{STOCK} takes no options, got {sorted({**self.options, **self.schedule})}")
            return None, Schedule()
        return make_method(self.method, **self.options), Schedule(**self.schedule)

    def describe(self) -> dict[str, Any]:
        """The method and the value of every option it runs with (sidecars, reports)."""
        method, schedule = self.build()
        if method is None:
            return {"method": self.method, "options": {}}
        return {"method": self.method, "options": {**method.options(), **option_values(schedule)}}


def resolve_setting(
    method: str, recommended: dict[str, Any], overrides: dict[str, Any], label: str = ""
) -> MethodSetting:
    """The model's recommended settings for `method`, with `overrides` (from flags) on top; density and
    mass replace each other. Keys a method does not take are dropped from the recommendation."""
    base = dict(recommended)
    if set(BUDGET_KEYS) & overrides.keys():
        for key in BUDGET_KEYS:
            base.pop(key, None)
    merged = {**base, **overrides}
    own = method_options(method)
    options = {key: value for key, value in merged.items() if key in own}
    schedule = {} if method == STOCK else {k: v for k, v in merged.items() if k in SCHEDULE_OPTIONS}
    return MethodSetting(method, options, schedule, label)


def install(pipe: Any, setting: MethodSetting, steps: int, timing: bool = False) -> AccelerationHandle:
    """Put `setting` on every transformer of `pipe`. STOCK is the stock attention behind the same processor
    and step hook (every step dense), so it is timed and counted the same way as the methods."""
    from dit_accel.pipelines.handle import accelerate  # imports diffusers: only when a model runs

    if setting.method == STOCK:
        return accelerate(
            pipe, "dense", dense_steps=1.0, num_inference_steps=steps, timing=timing, paper_defaults=False
        )
    # The model's recommendation is resolved already: accelerate()'s paper defaults would add to it.
    return accelerate(
        pipe,
        setting.method,
        num_inference_steps=steps,
        timing=timing,
        paper_defaults=False,
        **setting.schedule,
        **setting.options,
    )


def check_setting(setting: MethodSetting) -> None:
    """Build the method and the schedule once, so that what they reject fails before a model loads."""
    setting.build()
