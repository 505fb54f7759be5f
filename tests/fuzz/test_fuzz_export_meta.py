"""The metadata of an exported env (pack.META_MEMBER in `armroot export`'s tarball, read by
`create --from` with create.exported_meta): a stranger's JSON, validated field by field or
refused in one line. Reading it from the tarball without extracting it is tested in
test_fuzz_tarball, which shares METADATA and validates from here."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armroot.commands import create
from armroot.images import tarball
from armroot.rootfs import boards
from armroot.store.envs import EnvMeta
from tests.fuzz.properties import outcome


def _nested(kids: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3)


_JSON: st.SearchStrategy[object] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    _nested,
    max_leaves=8,
)
_OPTIONAL = st.none() | st.text(max_size=8)
_META = st.builds(
    EnvMeta,
    name=st.text(max_size=8),
    arch=st.sampled_from(["arm64", "armhf", "x"]),
    source=st.text(max_size=12),
    created=st.text(max_size=8),
    cpu_level=_OPTIONAL,
    qemu_cpu=_OPTIONAL,
    size_bytes=st.integers(0, 2**40),
    board=st.none() | st.sampled_from([*boards.ALL_NAMES, "nope"]),
    gcc_target=st.none() | st.dictionaries(st.text(max_size=5), _JSON, max_size=3),
)
_FIELDS = st.sampled_from([*EnvMeta._fields, "extra"])
_HUGE = st.sampled_from([tarball.META_LIMIT - 1, tarball.META_LIMIT, tarball.META_LIMIT + 1])
METADATA = st.one_of(
    _META.map(lambda m: m.to_json().encode()),
    st.builds(
        lambda meta, changes: json.dumps({**meta._asdict(), **changes}).encode(),
        _META,
        st.dictionaries(_FIELDS, _JSON, max_size=3),
    ),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"[" * 100_000,
            b'{"a":' * 50_000,
            b"1" * 5000,
            b'{"name": "\xff"}',
            b'{"name": "\\ud800"}',
            b"\xef\xbb\xbf{}",
            b"{} {}",
        ]
    ),
    st.builds(lambda meta, size: meta.to_json().encode().ljust(size), _META, _HUGE),
)
_TYPES: dict[str, tuple[type, ...]] = {
    "size_bytes": (int,),
    "gcc_target": (dict, type(None)),
    **{f: (str,) for f in ("name", "arch", "source", "created", "armroot_version")},
    **{
        f: (str, type(None))
        for f in ("cpu_level", "qemu_cpu", "uname_machine", "os_name", "board", "source_sha256")
    },
}


def validates(meta: EnvMeta) -> None:
    for field, kinds in _TYPES.items():
        value = getattr(meta, field)
        assert isinstance(value, kinds) and not isinstance(value, bool), (field, value)
    assert EnvMeta.from_json(meta.to_json()) == meta


@given(METADATA)
def test_exported_metadata_validates_or_is_one_line(raw: bytes) -> None:
    got = outcome(lambda: create.exported_meta(raw, "env.tar"))
    if isinstance(got, EnvMeta):
        validates(got)


# --- regressions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",  # AttributeError: 'list' object has no attribute 'items'
        b"[" * 100_000,  # RecursionError
        b'{"name": null, "arch": "", "source": "", "created": ""}',  # accepted, name None
        b'{"name": "", "arch": "", "source": "", "created": "", "gcc_target": []}',  # accepted
    ],
)
def test_regression_exported_metadata_of_the_wrong_shape(raw: bytes) -> None:
    got = outcome(lambda: create.exported_meta(raw, "env.tar"))
    assert isinstance(got, str) and got.startswith("env.tar carries unreadable armroot metadata")
