"""armroot.toml (build/config.py): a project's file, written by whoever wrote the project.
Documents are generated near the schema ([env], [build], [distribute], their keys) and then
broken: wrong types, unknown keys and sections, nested tables, huge strings, invalid TOML,
non-UTF-8 bytes in the file. What the file means is tomllib's reading of it: the config
armroot takes must be exactly that, and anything else one clean line."""

from __future__ import annotations

import datetime
import json
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armroot.build import config
from armroot.errors import UsageError
from armroot.session.request import ACCEL_MODES
from tests.fuzz.properties import clean_failure, outcome

KNOWN = {
    "env": ("name", "image", "board", "packages"),
    "build": ("system", "configure", "build", "artifacts", "smoke", "accel"),
    "distribute": ("hosts",),
}
LISTS = {"packages", "configure", "build", "artifacts", "smoke", "hosts"}

# ---- a small TOML writer (what it writes need not be valid: tomllib says what it means) ----


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise AssertionError(value)


def toml(document: dict[str, object]) -> str:
    """Top-level values first, then each table as a [section] (nested ones inline)."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for name, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{_key(name)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# ---- documents near the schema ----

SCALARS: st.SearchStrategy[object] = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.text(max_size=20),
)
ANY_VALUE: st.SearchStrategy[object] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
WORDS = st.sampled_from(
    ["pi", "pi4", "debian:trixie", "raspios:lite-armhf", "cmake", "make", "-j4", "", " ", "\n"]
)
STRINGS = st.one_of(WORDS, st.text(max_size=30), st.just("x" * 100_000))
GOOD = {
    "system": st.sampled_from([*config.SYSTEMS, "Custom", "ninja", ""]),
    "accel": st.sampled_from([*ACCEL_MODES, "native", "", "AUTO"]),
}


@st.composite
def tables(draw: st.DrawFn, section: str) -> dict[str, object]:
    keys = draw(
        st.lists(
            st.one_of(st.sampled_from(KNOWN[section]), st.text(max_size=8)),
            max_size=6,
            unique=True,
        )
    )
    table: dict[str, object] = {}
    for key in keys:
        if draw(st.integers(0, 4)) == 0:
            table[key] = draw(ANY_VALUE)  # the wrong type, most likely
        elif key in LISTS:
            table[key] = draw(st.one_of(st.lists(STRINGS, max_size=4), STRINGS))
        else:
            table[key] = draw(GOOD.get(key, STRINGS))
    return table


@st.composite
def documents(draw: st.DrawFn) -> dict[str, object]:
    names = draw(
        st.lists(
            st.one_of(st.sampled_from(sorted(KNOWN)), st.text(max_size=8)), max_size=4, unique=True
        )
    )
    document: dict[str, object] = {}
    for name in names:
        if name in KNOWN and draw(st.integers(0, 5)) != 0:
            document[name] = draw(tables(name))
        else:
            document[name] = draw(ANY_VALUE)  # an unknown section, or not a table
    return document


@st.composite
def texts(draw: st.DrawFn) -> str:
    """A generated document, maybe broken as text: a character inserted, a line doubled
    (a key given twice), cut short, deep nesting; or any text at all."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=200))
    if kind == 1:
        depth = draw(st.sampled_from([10, 400, 1000, 5000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a=", "}")]))
        return f"[env]\npackages = {opener * depth}{closer * draw(st.sampled_from([0, depth]))}\n"
    text = toml(draw(documents()))
    if kind == 2 and text:
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from(["=", "[", '"', "\n", "\x00", "\x7f", "é"]))
            + text[at:]
        )
    elif kind == 3:
        lines = text.splitlines(keepends=True)
        at = draw(st.integers(0, len(lines) - 1)) if lines else 0
        text = "".join(lines[: at + 1] + lines[at:])
    elif kind == 4:
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _as_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return tuple(value)


def check_means_what_toml_says(got: config.ProjectConfig, text: str) -> None:
    """An accepted config is exactly tomllib's reading of the text: no unknown section or
    key ignored, no value of the wrong type taken, no unknown system or accel mode."""
    data = tomllib.loads(text)
    assert set(data) <= set(KNOWN)
    tables: dict[str, dict[str, Any]] = {}
    for name, keys in KNOWN.items():
        table = data.get(name, {})
        assert isinstance(table, dict) and set(table) <= set(keys)
        tables[name] = table
    env, build, distribute = tables["env"], tables["build"], tables["distribute"]
    assert (got.env, got.image, got.board) == (env.get("name"), env.get("image"), env.get("board"))
    assert got.packages == _as_tuple(env.get("packages", []))
    assert got.system == (build.get("system") or "auto") and got.system in config.SYSTEMS
    for field in ("configure", "build", "artifacts", "smoke"):
        assert getattr(got, field) == _as_tuple(build.get(field, []))
    assert got.distribute == _as_tuple(distribute.get("hosts", []))
    assert got.accel == build.get("accel") and (got.accel is None or got.accel in ACCEL_MODES)
    assert got.system != "custom" or got.build
    for value in (got.env, got.image, got.board, got.accel):
        assert value is None or isinstance(value, str)


@given(texts())
def test_an_armroot_toml_is_read_as_toml_says_or_is_one_line(text: str) -> None:
    got = outcome(lambda: config.parse(text, "armroot.toml"))
    if isinstance(got, config.ProjectConfig):
        check_means_what_toml_says(got, text)


@given(documents())
def test_a_document_of_the_right_shape_is_taken_whole(document: dict[str, object]) -> None:
    """Only known sections and keys, each of its type: accepted unless a system, an accel
    mode or a custom build without a command is wrong, and then it says which."""
    text = toml(document)
    got = outcome(lambda: config.parse(text))
    if isinstance(got, config.ProjectConfig):
        check_means_what_toml_says(got, text)
        return
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # the writer above wrote something TOML does not allow (a DEL, a NaN key...)
    good_shape = set(data) <= set(KNOWN) and all(
        isinstance(data.get(n, {}), dict) and set(data.get(n, {})) <= set(keys)
        for n, keys in KNOWN.items()
    )
    if good_shape:
        assert re.search(r"must be|unknown build system|unknown accel|custom", got), got


# Bytes that are not UTF-8: a lone continuation byte, a truncated sequence, an encoded
# surrogate, an overlong encoding, Latin-1 text.
BAD_BYTES = st.sampled_from([b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"caf\xe9"])


@given(texts(), st.one_of(st.none(), BAD_BYTES), st.integers(0, 1 << 16))
def test_the_file_is_read_or_refused_in_one_line(text: str, bad: bytes | None, where: int) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    if bad is not None:
        where %= len(raw) + 1
        raw = raw[:where] + bad + raw[where:]
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, config.FILENAME).write_bytes(raw)
        got = outcome(lambda: config.load(Path(tmp)))
    assert got is not None  # the file is there
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        assert isinstance(got, str) and "is not UTF-8" in got
        return
    if "\r" not in decoded:  # (the file is read with universal newlines)
        same = outcome(lambda: config.parse(decoded, str(Path(tmp, config.FILENAME))))
        assert got == same


def test_regression_deeply_nested_toml_array() -> None:
    """tomllib recurses into arrays: 1000 nested ones were a RecursionError traceback."""
    with pytest.raises(UsageError) as nested:
        config.parse("x = " + "[" * 1000)
    assert "nests arrays or tables too deeply" in clean_failure(nested.value)


def test_regression_armroot_toml_not_utf8() -> None:
    """A file with a byte that is not UTF-8 was a UnicodeDecodeError traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, config.FILENAME).write_bytes(b"\xff")
        with pytest.raises(UsageError) as bad:
            config.load(Path(tmp))
    assert "is not UTF-8 text" in clean_failure(bad.value)
