"""Method names -> Method classes, looked up lazily so that a missing method only fails when asked for."""

from __future__ import annotations

from typing import Any

from dit_accel.methods.base import Method

METHOD_CLASSES = {
    "dense": "Dense",
    "radial": "Radial",
    "window": "Window",
    "draft": "Draft",
    "reordered": "Reordered",
    "adaptive": "Adaptive",
}


def method_class(name: str) -> type[Method]:
    """The Method class registered under `name` (one of `METHOD_CLASSES`)."""
    import dit_accel.methods as methods

    if name not in METHOD_CLASSES:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHOD_CLASSES)}")
    cls = getattr(methods, METHOD_CLASSES[name], None)
    if cls is None:
        raise ValueError(f"method {name!r} ({METHOD_CLASSES[name]}) is not available in dit_accel.methods")
    return cls


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
