"""Integer ids for the Python objects that dit_accel's opaque custom ops act for.

A torch custom op takes tensors and numbers only, so compiled code reaches a processor or a step hook
through its id: one constant of the graph, shared by every layer and step. The index holds weak
references only: it keeps nothing alive and caches nothing.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any

_objects: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_next_id = itertools.count(1)


def object_id(obj: Any) -> int:
    """A new id under which `lookup` finds `obj` while it lives."""
    number = next(_next_id)
    _objects[number] = obj
    return number


def lookup(number: int) -> Any:
    """The object registered as `number`; ValueError when it is gone."""
    obj = _objects.get(number)
    if obj is None:
        raise ValueError(f"no live dit_accel object has id {number} (its processor or handle was deleted)")
    return obj
