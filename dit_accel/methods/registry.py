"""Method names -> Method classes."""

from __future__ import annotations

from typing import Any

from dit_accel.methods.adaptive import Adaptive
from dit_accel.methods.base import Method
from dit_accel.methods.dense import Dense
from dit_accel.methods.draft import Draft
from dit_accel.methods.radial import Radial
from dit_accel.methods.reordered import Reordered
from dit_accel.methods.window import Window

METHOD_CLASSES: dict[str, type[Method]] = {
    cls.name: cls for cls in (Dense, Radial, Window, Draft, Reordered, Adaptive)
}


def method_class(name: str) -> type[Method]:
    """The Method class registered under `name` (one of `METHOD_CLASSES`)."""
    if name not in METHOD_CLASSES:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHOD_CLASSES)}")
    return METHOD_CLASSES[name]


def make_method(method: str | Method, **options: Any) -> Method:
    """A Method from a name and its keyword options, or a Method instance as is (then no options)."""
    if isinstance(method, Method):
        if options:
            raise ValueError(
                f"options {sorted(options)} were given with a {type(method).__name__} instance; "
                "set them on the instance or pass the method by name"
            )
        return method
    if not isinstance(method, str):
        raise ValueError(f"method must be a name ({', '.join(METHOD_CLASSES)}) or a Method, got {method!r}")
    return method_class(method)(**options)
