"""Declared options: every method's options are declared once, and the CLI flags, their checks, the
sidecar options, repr and the web form's options are derived from the declaration (a new option needs no
other edit)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pytest

from app.request import build_setting, knob_defaults, shows
from dit_accel.checks import check_integer, check_number
from dit_accel.cli import build_parser, main
from dit_accel.generate import SCHEDULE_OPTIONS, STOCK, Schedule, resolve_setting, setting_options
from dit_accel.generate.settings import accepted_flags, all_options, option_flag
from dit_accel.methods import METHOD_CLASSES, Draft
from dit_accel.models import get_model
from dit_accel.options import declared_options, integer, number
from tests.test_app import form


def _generate_flags() -> set[str]:
    generate = build_parser()._subparsers._group_actions[0].choices["generate"]
    return {flag for action in generate._actions for flag in action.option_strings}


@pytest.mark.parametrize("name", list(METHOD_CLASSES))
def test_each_method_takes_the_flags_of_its_dataclass_fields_and_the_schedule(name: str) -> None:
    fields = [field.name for field in dataclasses.fields(METHOD_CLASSES[name])]
    assert list(declared_options(METHOD_CLASSES[name])) == fields  # every field is a declared option
    schedule = [field.name for field in dataclasses.fields(Schedule)]
    assert accepted_flags(name) == [option_flag(key) for key in fields + schedule]
    assert set(accepted_flags(name)) <= _generate_flags()
    assert accepted_flags(STOCK) == []


def test_every_declared_number_is_checked_finite_and_in_range() -> None:
    numbers = {
        (key, option)
        for key, (option, _) in all_options().items()
        if option.kind in ("number", "count_or_fraction")
    }
    assert {key for key, _ in numbers} >= {"decay", "density", "mass", "dense_steps", "dense_last_steps"}
    for key, option in numbers:
        with pytest.raises(ValueError, match=f"^{key} must be "):
            option.check(key, math.nan)
        with pytest.raises(ValueError, match=f"^{key} must be "):
            option.check(key, -math.inf)
        if not option.allow_inf:
            with pytest.raises(ValueError, match=f"^{key} must be "):
                option.check(key, math.inf)


def test_low_layer_checks_name_the_argument_and_the_allowed_values() -> None:
    assert check_number("guidance", 3, 0, 50) == 3.0
    with pytest.raises(ValueError, match=r"^guidance must be a number in \[0, 50\], got nan$"):
        check_number("guidance", math.nan, 0, 50)
    with pytest.raises(ValueError, match=r"^shift must be a number > 0, got inf$"):
        check_number("shift", math.inf, 0, low_open=True)
    with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got 2.0$"):
        check_integer("steps", 2.0, 1)


@dataclass(frozen=True)
class Spread(Draft):
    """Draft with one more option: the test's stand-in for a method that gains an option."""

    name = "spread"

    spread: int = integer(2, "how far the test option reaches", 1)
    tilt: float = number(0.5, "a test share", 0, 1)


def test_a_new_option_needs_no_edit_anywhere_else(monkeypatch, capsys) -> None:
    monkeypatch.setitem(METHOD_CLASSES, "spread", Spread)
    assert {"--spread", "--tilt"} <= _generate_flags()
    assert all_options()["spread"][1] == ("spread",)
    assert repr(Spread(spread=3)).endswith("block_size=64, spread=3, tilt=0.5)")
    assert list(setting_options("spread"))[-len(SCHEDULE_OPTIONS) - 2 :][:2] == ["spread", "tilt"]

    for argv, message in [
        (["--method", "spread", "--spread", "0"], "argument --spread: must be an integer >= 1, got 0"),
        (["--method", "spread", "--tilt", "inf"], "argument --tilt: must be a number in [0, 1], got inf"),
        (["--method", "draft", "--spread", "3"], "argument --spread: does not apply to method 'draft'"),
    ]:
        assert main(["generate", "--model", "tiny-wan", *argv]) == 2
        assert message in capsys.readouterr().err

    setting = resolve_setting("spread", {"density": 0.3, "dense_steps": 1}, {"spread": 4})
    described = setting.describe()
    assert described["method"] == "spread" and described["options"]["spread"] == 4
    assert described["options"]["tilt"] == 0.5 and described["options"]["dense_steps"] == 1

    tiny = get_model("tiny-wan")
    assert knob_defaults(tiny, "spread")["budget"] == "density" and shows("budget", "spread")
    request = build_setting(form(method="spread", extra_options="spread=5; tilt=0.25"), tiny)
    assert request.options["spread"] == 5 and request.options["tilt"] == 0.25
    with pytest.raises(ValueError, match=r"spread: spread must be an integer >= 1, got 0"):
        build_setting(form(method="spread", extra_options="spread=0"), tiny)
