"""A catalogue of one's own (ARMROOT_CATALOGUE, images.catalogue): entries that add to or
replace armroot's, read from a JSON file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from armroot.images import catalogue
from armroot.rootfs import boards
from tests.fuzz.properties import outcome

GOOD = {
    "id": "mine:pi",
    "title": "mine",
    "kind": "tarball",
    "arch": "armhf",
    "url": "http://127.0.0.1/x.tar.gz",
    "verify": "sha256",
    "checksum": "0" * 64,
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
FIELDS = st.sampled_from([*catalogue.Entry._fields, "other"])
ENTRY = st.one_of(
    JSON,
    st.dictionaries(FIELDS, JSON, max_size=4).map(lambda d: {**GOOD, **d}),
    st.lists(st.sampled_from(boards.ALL_NAMES), max_size=3).map(lambda b: {**GOOD, "boards": b}),
)
DOCUMENT = st.one_of(
    st.lists(ENTRY, max_size=3).map(json.dumps),
    JSON.map(json.dumps),
    st.integers(1, 3000).map(lambda n: "[" * n),
    st.text(max_size=40),
)


@given(DOCUMENT)
def test_a_catalogue_file_gives_typed_entries_or_one_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalogue.json"
        path.write_text(text)
        got = outcome(lambda: catalogue._from_file(str(path)))
    if isinstance(got, str):
        assert got.startswith(f"ARMROOT_CATALOGUE={path}"), got
        return
    for entry in got:
        assert all(isinstance(getattr(entry, f), str) for f in _TEXTS), entry
        assert type(entry.size) is int and entry.size >= 0
        assert set(entry.boards) <= set(boards.ALL_NAMES)
        assert entry.verify in catalogue.VERIFICATIONS


_TEXTS = tuple(f for f in catalogue.Entry._fields if f not in ("boards", "size"))


def test_regression_a_deeply_nested_catalogue_file_is_one_line() -> None:
    """Found by test_fuzz_indexes's review of catalogue._from_file: `[` x 100,000 raised
    RecursionError, and an entry's fields were never checked (a list where a URL goes)."""
    for text in ("[" * 100_000, json.dumps([{**GOOD, "url": ["x"]}]), json.dumps([[]])):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.json"
            path.write_text(text)
            got = outcome(lambda: catalogue._from_file(str(path)))  # noqa: B023
            assert isinstance(got, str) and "cannot be read" in got, got
