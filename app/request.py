"""The demo's form turned into a validated request; bad input raises InputError with one line for the page."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from dit_accel.generate.settings import (
    BUDGET_KEYS,
    SCHEDULE_OPTIONS,
    MethodSetting,
    Schedule,
    all_options,
    method_options,
)
from dit_accel.methods import METHOD_CLASSES, make_method
from dit_accel.methods.base import DEFAULT_DENSITY
from dit_accel.models import ModelSpec
from dit_accel.options import option_defaults

# Everything the form offers comes from the registry and the declared options (`dit_accel.options`): the
# methods, the choices of the order and block size knobs, which knobs a method shows, what extras take.
METHODS = tuple(METHOD_CLASSES)
BUDGETS = BUDGET_KEYS
ORDERS = all_options()["order"][0].choices
BLOCK_SIZES = all_options()["block_size"][0].choices
# The form's knobs for method options (budget stands for density or mass, whichever is chosen).
KNOBS = ("budget", "decay", "order", "block_size")
MAX_STEPS = 1000


class InputError(ValueError):
    """Bad input in the form; the message is one line meant for the page."""


@dataclass(frozen=True)
class Form:
    """The values of the form, as the page sends them (numbers may arrive as floats)."""

    model: str
    prompt: str
    method: str
    budget: str
    amount: float
    decay: float
    order: str
    block_size: int
    dense_steps: float
    dense_layers: int
    refresh_every: int
    extra_options: str
    seed: int
    steps: int
    height: int
    width: int
    frames: int
    guidance: float
    layer: int = 0
    head: int = 0


@dataclass(frozen=True)
class Request:
    """One dense-vs-accelerated comparison. layer/head: which block map the layout picture shows."""

    model: str
    prompt: str
    seed: int
    height: int
    width: int
    frames: int
    steps: int
    guidance: float
    setting: MethodSetting
    layer: int
    head: int

    @property
    def dense_key(self) -> tuple:
        """What the dense reference depends on (the method does not change it)."""
        return (
            self.model,
            self.prompt,
            self.seed,
            self.height,
            self.width,
            self.frames,
            self.steps,
            self.guidance,
        )


def shows(knob: str, method: str) -> bool:
    """Whether the form shows `knob` (one of KNOBS) for `method`: the method declares that option."""
    takes = method_options(method)
    return any(key in takes for key in BUDGETS) if knob == "budget" else knob in takes


def _declared_default(key: str) -> Any:
    """The default of option `key` in the first method that declares it."""
    return next(option_defaults(cls)[key] for cls in METHOD_CLASSES.values() if key in option_defaults(cls))


def knob_defaults(spec: ModelSpec, method: str) -> dict[str, Any]:
    """The form's knobs for `method` on `spec`: the model's recommended settings over the declared defaults,
    the dense warm-up as a share of the steps (so that it still fits when the step count changes). Knobs
    the method does not show keep the first declaring method's default."""
    rec = spec.recommended.get(method, {})
    takes = method_options(method)
    values = make_method(method, **{k: v for k, v in rec.items() if k in takes}).options()
    budget = next((key for key in BUDGETS if values.get(key) is not None), BUDGETS[0])
    schedule = {**option_defaults(Schedule), **{k: v for k, v in rec.items() if k in SCHEDULE_OPTIONS}}
    dense_steps = schedule["dense_steps"]
    if isinstance(dense_steps, int):
        dense_steps = dense_steps / spec.steps
    return {
        "budget": budget,
        "amount": values.get(budget) or DEFAULT_DENSITY,
        **{key: values.get(key, _declared_default(key)) for key in KNOBS if key != "budget"},
        "dense_steps": float(dense_steps),
        "dense_layers": schedule["dense_layers"],
        "refresh_every": schedule["refresh_every"],
    }


def parse_extra(text: str) -> dict[str, Any]:
    """`key=value` pairs separated by ';' or new lines. Values are Python literals (0.3, True, (3, 8, 8))
    or else plain words."""
    options: dict[str, Any] = {}
    for part in re.split(r"[;\n]", text or ""):
        if not part.strip():
            continue
        key, sep, raw = (s.strip() for s in part.partition("="))
        if not sep or not key.isidentifier() or not raw:
            raise InputError(
                f"extra option {part.strip()!r} is not key=value (e.g. window=(3, 8, 8); sink=False)"
            )
        try:
            options[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            options[key] = raw
    return options


def _integer(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise InputError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InputError(f"{name} must be {bound}, got {value}")
    return value


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError(f"{name} must be a share of the steps between 0 and 1, got {value!r}")
    return float(value)


def _choice(name: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")
    return value


def build_setting(form: Form, spec: ModelSpec) -> MethodSetting:
    """The method, its options and dense schedule: the model's recommendation for options the form has no
    knob for (e.g. window), then the knobs the method takes, then the extra options."""
    method = _choice("method", form.method, tuple(METHOD_CLASSES))
    budget = _choice("budget", form.budget, BUDGETS)
    params = tuple(method_options(method))
    extra = parse_extra(form.extra_options)
    unknown = sorted(set(extra) - set(params) - set(SCHEDULE_OPTIONS))
    if unknown:
        raise InputError(
            f"unknown option {', '.join(map(repr, unknown))} for {method}; it takes "
            f"{', '.join((*params, *SCHEDULE_OPTIONS))}"
        )
    if budget not in params and set(BUDGETS) & set(params):
        raise InputError(
            f"{method} selects blocks by {'mass' if budget == 'density' else 'density'}, not {budget}"
        )
    knobs = {"decay": form.decay, "order": form.order, "block_size": form.block_size, budget: form.amount}
    options = {key: value for key, value in spec.recommended.get(method, {}).items() if key in params}
    options.update((key, value) for key, value in knobs.items() if key in params)
    chosen = {key for key in BUDGETS if key in extra} or {budget}
    for key in set(BUDGETS) - chosen:
        options.pop(key, None)
    options.update((key, value) for key, value in extra.items() if key in params)
    try:
        make_method(method, **options)
    except (TypeError, ValueError) as error:
        raise InputError(f"{method}: {error}") from None
    schedule = {
        "dense_steps": _share("dense warm-up", form.dense_steps),
        "dense_layers": _integer("dense first layers", form.dense_layers, 0),
        "refresh_every": _integer("refresh interval", form.refresh_every, 1),
        **{key: value for key, value in extra.items() if key in SCHEDULE_OPTIONS},
    }
    try:
        Schedule(**schedule)
    except ValueError as error:
        raise InputError(str(error)) from None
    return MethodSetting(method, options, schedule)


def parse_form(form: Form, spec: ModelSpec) -> Request:
    """A validated request for `spec` (the model `form.model` names); InputError on bad input."""
    prompt = form.prompt.strip() if isinstance(form.prompt, str) else ""
    if not prompt:
        raise InputError("Enter a prompt.")
    height = _integer("height", form.height, 1)
    width = _integer("width", form.width, 1)
    frames = _integer("frames", form.frames, 1)
    bad = spec.rules.check(height, width, frames)
    if bad is not None:
        raise InputError(f"{bad[0].lstrip('-')} {bad[1]} for {spec.name}")
    steps = _integer("steps", form.steps, 1, MAX_STEPS)
    guidance = form.guidance
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= 50:
        raise InputError(f"guidance must be a number between 0 and 50, got {guidance!r}")
    return Request(
        model=spec.name,
        prompt=prompt,
        seed=_integer("seed", form.seed, 0, 2**63 - 1),
        height=height,
        width=width,
        frames=frames,
        steps=steps,
        guidance=float(guidance),
        setting=build_setting(form, spec),
        layer=_integer("layer", form.layer, 0),
        head=_integer("head", form.head, 0),
    )
