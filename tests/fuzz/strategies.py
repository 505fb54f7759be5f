"""Hypothesis strategies and checks shared by more than one module of tests/fuzz (issue 20).

What only one module uses stays in that module."""

from __future__ import annotations

import re

from hypothesis import strategies as st

# ---- sha256s and odd text (test_fuzz_releases, test_fuzz_indexes, test_fuzz_debian) ----

HEX = re.compile(r"[0-9a-f]{64}")
SHA = st.text("0123456789abcdef", min_size=64, max_size=64)
# What an index may put where a sha256 goes: one, in upper case, a digit short or long, a
# non-hex or non-ASCII digit in it, padded, or another type.
SHA_LIKE: st.SearchStrategy[str] = st.one_of(
    SHA,
    SHA.map(str.upper),
    SHA.map(lambda h: h[:63]),
    SHA.map(lambda h: h + "0"),
    SHA.map(lambda h: "g" + h[1:]),
    SHA.map(lambda h: "\uff10" + h[1:]),  # a fullwidth zero
    SHA.map(lambda h: f" {h}\n"),
    st.sampled_from(["", " ", "0x" + "0" * 62]),
)
ODD = st.sampled_from(
    ["", " ", "\n", "\r\n", "\u2028", "\x00", "\x1b[31m", "..", "../../x", "é", "\udcff", "\u0663"]
)
TEXT = st.one_of(ODD, st.text(max_size=24))
# A value of some other type where an index has a string or a number (test_fuzz_releases,
# test_fuzz_indexes).
WRONG: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(10**300),
    TEXT,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
