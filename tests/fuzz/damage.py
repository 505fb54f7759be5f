"""What the record tests of tests/fuzz do to a record, and the helpers they share.

A record is written by the real code, then damaged: a byte changed, cut short, bytes added
(:func:`damaged_bytes`); fields removed, of the wrong type or extra, JSON that is not an
object, huge numbers, deep nesting, text that is not UTF-8 (:func:`damaged_json`, with
:data:`VALUES`, any JSON value). Also: :func:`replaced` (an attribute swapped for a block),
:func:`scratch` (a directory for one example), :func:`no_error` (a cache's miss is no error).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TypeVar, cast

from hypothesis import strategies as st

from tests.fuzz.properties import outcome

T = TypeVar("T")
JSON = object  # what json.loads gives: None, bool, int, float, str, list, dict

# Literal JSON text json.dumps would not write: numbers too large for a float or an int's
# text, non-numbers, nesting deeper than the parser's recursion.
RAW = (
    "1e999",
    "-1e999",
    "1E400",
    "9" * 5000,
    "NaN",
    "Infinity",
    "-0",
    "0.5",
    "[" * 30_000,
    "[" * 30_000 + "]" * 30_000,
    '{"a":' * 30_000,
)
_PLACEHOLDER = "\x00raw\x00"  # stands for one of RAW in a structure, replaced in its text

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**400, -1, 0, 1]),
    st.floats(),
    st.text(max_size=12),
    st.just(_PLACEHOLDER),
)
VALUES: st.SearchStrategy[JSON] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _dumps(value: JSON, raw: str) -> str:
    text = json.dumps(value, indent=1, sort_keys=True)
    return text.replace(json.dumps(_PLACEHOLDER), raw)


def damaged_bytes(data: st.DataObject, blob: bytes) -> bytes:
    """``blob`` with one thing done to it; never ``blob`` itself."""
    how = data.draw(st.sampled_from(["flip", "truncate", "insert", "append", "replace"]))
    if how == "flip" and blob:
        at = data.draw(st.integers(0, len(blob) - 1))
        return blob[:at] + bytes([blob[at] ^ data.draw(st.integers(1, 255))]) + blob[at + 1 :]
    if how == "truncate" and blob:
        return blob[: data.draw(st.integers(0, len(blob) - 1))]
    if how == "insert":
        at = data.draw(st.integers(0, len(blob)))
        return blob[:at] + data.draw(st.binary(min_size=1, max_size=8)) + blob[at:]
    if how == "append":
        return blob + data.draw(st.binary(min_size=1, max_size=8))
    return data.draw(st.binary(max_size=64).filter(lambda b: b != blob))


def _paths(value: JSON, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place in a JSON value below its top."""
    items: list[tuple[str | int, JSON]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return []
    found: list[tuple[str | int, ...]] = []
    for key, inner in items:
        found.append((*prefix, key))
        found += _paths(inner, (*prefix, key))
    return found


def _at(value: JSON, path: tuple[str | int, ...]) -> JSON:
    for key in path:
        value = value[key]  # type: ignore[index]
    return value


def damaged_json(
    data: st.DataObject, made: dict[str, JSON], hostile: dict[str, list[str]] | None = None
) -> bytes:
    """The JSON record ``made`` damaged: a field removed, given another value (of any type,
    or one of ``hostile``'s for a field of that name), an extra field, not an object, or its
    text damaged (:func:`damaged_bytes`, or not UTF-8)."""
    raw = data.draw(st.sampled_from(RAW))
    how = data.draw(
        st.sampled_from(
            ["remove", "retype", "hostile", "extra", "not an object", "text", "encoding"]
        )
    )
    value = copy.deepcopy(made)
    paths = _paths(value)
    if how == "remove":
        path = data.draw(st.sampled_from(paths))
        parent = _at(value, path[:-1])
        del parent[path[-1]]  # type: ignore[attr-defined]
    elif how in ("retype", "hostile"):
        path = data.draw(st.sampled_from(paths))
        choices = (hostile or {}).get(str(path[-1])) if how == "hostile" else None
        new = data.draw(st.sampled_from(choices) if choices else VALUES)
        parent = _at(value, path[:-1])
        parent[path[-1]] = new  # type: ignore[index]
    elif how == "extra":
        objects = [p for p in paths if isinstance(_at(value, p), dict)]
        path = data.draw(st.sampled_from([(), *objects]))
        target = cast(dict[str, JSON], _at(value, path))
        target[data.draw(st.text(max_size=8))] = data.draw(VALUES)
    elif how == "not an object":
        return _dumps(data.draw(VALUES.filter(lambda v: not isinstance(v, dict))), raw).encode()
    text = _dumps(value, raw)
    if how == "text":
        return damaged_bytes(data, text.encode())
    if how == "encoding":
        encoding = data.draw(st.sampled_from(["utf-16", "latin-1", "cp1252"]))
        return (text + "é").encode(encoding, "backslashreplace")
    return text.encode()


@contextlib.contextmanager
def replaced(owner: object, name: str, value: object) -> Iterator[None]:
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


_MEMORY = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def scratch() -> tempfile.TemporaryDirectory[str]:
    """A directory for one example: in memory where there is one (on a disk busy with other
    work, each mkdir and rmdir can take milliseconds, and an example makes a dozen)."""
    return tempfile.TemporaryDirectory(dir=_MEMORY)


def no_error(call: Callable[[], T]) -> T:
    """``call()``'s result: for a cache, a damaged record is a miss, not even a clean error."""
    got = outcome(call)
    assert not isinstance(got, str), f"a damaged cache record is an error: {got}"
    return got
