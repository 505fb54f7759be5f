"""``typing.NamedTuple`` for the modules on `armroot run`'s start-up path, without `typing`.

Importing `typing` (with the `re` and `enum` it pulls in) costs about 20 ms on a small VM,
a third of what `armroot run` may add to a bare chroot. mypy sees ``typing.NamedTuple``
itself; at run time a class statement builds the same ``collections.namedtuple``: fields
from the annotations in order, defaults from the values given, methods and docstring kept.
Enough for armroot's records (no generics, no ClassVar, no subclassing a record).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    from collections import namedtuple as _namedtuple

    _SKIPPED = ("__annotations__", "__module__", "__qualname__", "__orig_bases__", "__dict__")

    class _RecordMeta(type):
        def __new__(mcs, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(mcs, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = [namespace[f] for f in fields if f in namespace]
            if any(f not in namespace for f in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            cls = _namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
            for key, value in namespace.items():
                if key not in fields and key not in _SKIPPED:
                    setattr(cls, key, value)
            cls.__qualname__ = namespace.get("__qualname__", name)
            return cls

    class NamedTuple(metaclass=_RecordMeta):
        """Base class of a record: ``class Point(NamedTuple): x: int; y: int = 0``."""
