"""``typing.NamedTuple`` for the modules on `armroot run`'s start-up path, without `typing`.

Importing `typing` (with the `re` and `enum` it pulls in) costs about 20 ms on a small VM,
and even `collections` (for ``namedtuple``) about 4 ms, of the 60 ms `armroot run` may add
to a bare chroot. mypy sees ``typing.NamedTuple`` itself; at run time a class statement
builds a tuple subclass with what armroot's records use of a named tuple: fields from the
annotations in order, defaults from the values given, keyword arguments, ``_fields``,
``_field_defaults``, ``_replace``, ``_asdict``, ``_make``, a repr, pickling, and the class
body's methods and docstring. No generics, no ClassVar, no subclassing a record.
Light (see :mod:`armroot.session`).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    _SKIPPED = ("__annotations__", "__module__", "__qualname__", "__orig_bases__", "__dict__")

    def _build(name, fields, defaults, namespace):
        arity = len(fields)

        def __new__(cls, *args, **kwargs):
            if len(args) > arity:
                raise TypeError(f"{name}() takes {arity} arguments but {len(args)} were given")
            values = list(args)
            for field in fields[len(args) :]:
                if field in kwargs:
                    values.append(kwargs.pop(field))
                elif field in defaults:
                    values.append(defaults[field])
                else:
                    raise TypeError(f"{name}() missing required argument: {field!r}")
            if kwargs:
                raise TypeError(f"{name}() got unexpected or repeated arguments: {list(kwargs)}")
            return tuple.__new__(cls, values)

        def _replace(self, **changes):
            return type(self)(**{**self._asdict(), **changes})

        def _asdict(self):
            return dict(zip(fields, self, strict=True))

        def __repr__(self):
            inner = ", ".join(f"{f}={v!r}" for f, v in zip(fields, self, strict=True))
            return f"{type(self).__name__}({inner})"

        def __getnewargs__(self):
            return tuple(self)

        attrs = {
            "__slots__": (),
            "__new__": __new__,
            "_fields": fields,
            "_field_defaults": dict(defaults),
            "__match_args__": fields,
            "_replace": _replace,
            "_asdict": _asdict,
            "_make": classmethod(lambda cls, iterable: cls(*iterable)),
            "__repr__": __repr__,
            "__getnewargs__": __getnewargs__,
            "__module__": namespace["__module__"],
            "__qualname__": namespace.get("__qualname__", name),
        }
        for index, field in enumerate(fields):
            attrs[field] = property(lambda self, i=index: self[i], doc=f"field {index}")
        for key, value in namespace.items():
            if key not in fields and key not in _SKIPPED:
                attrs[key] = value
        return type(name, (tuple,), attrs)

    class _RecordMeta(type):
        def __new__(mcs, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(mcs, name, bases, namespace)
            fields = tuple(namespace.get("__annotations__", {}))
            defaults = {f: namespace[f] for f in fields if f in namespace}
            if any(f not in defaults for f in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with a default")
            return _build(name, fields, defaults, namespace)

    class NamedTuple(metaclass=_RecordMeta):
        """Base class of a record: ``class Point(NamedTuple): x: int; y: int = 0``."""
