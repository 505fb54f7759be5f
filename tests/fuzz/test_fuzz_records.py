"""Records armroot keeps and reads back (the session plan cache, the cached bootstraps' .json,
the twin sets' set.json, an env's armroot.json) and the tool output it parses (the root's gcc's
answer to the probe, ccache's stats log).

Records are written by the real code, then damaged (a byte changed, cut short, bytes added,
fields removed, of the wrong type or extra, JSON that is not an object, huge numbers, deep
nesting, text that is not UTF-8), or replaced by valid records that describe something else
(another key, another size or sha256, another fingerprint, another env, another root). What
each loader must do with them:

- the plan cache, bootstraps and twin sets are caches: a record that does not match what made
  it is a miss (never an error, never used), and what armroot then makes again is used next;
- an env's armroot.json is the env itself, not a cache: a damaged one is one clean error line,
  and the remedy its hint names (`armroot rm`) works; a read one has the types it says.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import marshal
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar, cast

from hypothesis import given
from hypothesis import strategies as st

from armroot.accel import compile_cache, probe
from armroot.errors import printable
from armroot.images import bootstraps
from armroot.images import pack as packmod
from armroot.images.bootstraps import Entry, Key, Release
from armroot.sandbox.ops import Bind, File
from armroot.session import cache
from armroot.session.inputs import EnvInputs
from armroot.store.envs import EnvMeta, Store
from armroot.twins import archive, prepare, select, table
from tests.fuzz.properties import Witness, outcome

T = TypeVar("T")
JSON = object  # what json.loads gives: None, bool, int, float, str, list, dict

# --- damage -----------------------------------------------------------------------------

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
def environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


# --- the session plan cache (armroot.session.cache) --------------------------------------

ACCEL = "clang"
CODE = cache._code()


@contextlib.contextmanager
def plan_scratch() -> Iterator[str]:
    """A scratch directory, and the host held still for the plan cache: the host's
    binfmt_misc (another run on this machine registers handlers) and armroot's sources
    (edited meanwhile) read as when this module loaded. A record of other code is tested
    apart (BASE_CHANGES)."""
    with (
        scratch() as top,
        replaced(cache, "_code", lambda: CODE),
        replaced(cache, "BINFMT_DIR", os.path.join(top, "no-binfmt_misc")),
    ):
        yield top


def _env_dir(top: Path, name: str = "pi") -> tuple[str, EnvInputs]:
    env_dir = top / "envs" / name
    root = env_dir / "rootfs"
    for directory in ("usr/bin", "usr/share", "etc/alternatives"):
        (root / directory).mkdir(parents=True)
    (root / "usr/bin/gcc-14").write_text(name)
    (env_dir / "armroot.json").write_text("{}")
    tool = top / f"toolchain-{name}"
    tool.mkdir()
    inputs = EnvInputs(
        str(root),
        "cortex-a72",
        ("/usr/bin/qemu-aarch64-static",),
        (("CC", "/run/armroot/accel/bin/cc"),),
        (
            Bind(str(tool), "/run/armroot/accel/zig", readonly=True),
            File("/run/armroot/accel/config", "echo=0\n", 0o644),
        ),
        False,
        True,
        "armroot-clang-1",
    )
    return str(env_dir), inputs


def _save_plan(env_dir: str, inputs: EnvInputs, accel: str = ACCEL) -> bytes:
    cache.save(env_dir, accel, cache.base_fingerprint(env_dir, inputs.root), inputs)
    return Path(cache.record_path(env_dir, accel)).read_bytes()


def _write_record(env_dir: str, blob: bytes, accel: str = ACCEL) -> None:
    path = Path(cache.record_path(env_dir, accel))
    path.unlink(missing_ok=True)
    path.write_bytes(blob)
    path.chmod(0o644)


def _planned_again(env_dir: str, inputs: EnvInputs) -> None:
    """After a miss the session plans afresh and records it: the next session uses that."""
    _save_plan(env_dir, inputs)
    assert cache.load(env_dir, ACCEL) == inputs


@given(st.data())
def test_a_damaged_plan_record_is_a_miss_and_the_next_plan_is_recorded(data: st.DataObject) -> None:
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        blob = _save_plan(env_dir, inputs)
        _write_record(env_dir, damaged_bytes(data, blob))
        assert no_error(lambda: cache.load(env_dir, ACCEL)) is None
        _planned_again(env_dir, inputs)


def _sealed_plan(plan: object) -> bytes:
    """A record of ``plan`` as the cache writes one (so it is read, not refused as damaged)."""
    return cache._sealed(marshal.dumps(plan))  # type: ignore[arg-type]


MARSHAL_VALUES: st.SearchStrategy[object] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([2**70, -(2**70), 2**31, -1]),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["/", "", "a\x00b", "..", "/proc/self/fd/0", "\udcff"]),
        st.binary(max_size=8),
    ),
    lambda inner: (
        st.lists(inner, max_size=3).map(tuple)
        | st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=2)
        | st.frozensets(st.integers(), max_size=2)
    ),
    max_leaves=6,
)


def _replace_in(value: object, path: tuple[int, ...], new: object) -> object:
    if not path:
        return new
    items = list(cast(tuple[object, ...], value))
    items[path[0]] = _replace_in(items[path[0]], path[1:], new)
    return tuple(items)


def _tuple_paths(value: object, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    if not isinstance(value, tuple):
        return []
    found: list[tuple[int, ...]] = []
    for i, inner in enumerate(value):
        found.append((*prefix, i))
        found += _tuple_paths(inner, (*prefix, i))
    return found


@given(st.data())
def test_a_whole_plan_record_of_the_wrong_shape_is_a_miss(data: st.DataObject) -> None:
    """Past the checksum (a record this code would write), any field of another type or
    value: a miss, or (a value the record's fingerprint still agrees with) inputs of the
    shape the session expects."""
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        blob = _save_plan(env_dir, inputs)
        made = marshal.loads(cache._unsealed(blob) or b"")
        # The whole record, or a place in one of its parts (accel, fingerprint, plan): the
        # fingerprint, with a signature per source file, would otherwise be most places.
        part = data.draw(st.sampled_from([None, 0, 1, 2]))
        paths = [()] if part is None else [(part,), *_tuple_paths(made[part], (part,))]
        path = data.draw(st.sampled_from(paths))
        plan = _replace_in(made, path, data.draw(MARSHAL_VALUES))
        _write_record(env_dir, _sealed_plan(plan))
        got = no_error(lambda: cache.load(env_dir, ACCEL))
        if got is not None:
            assert isinstance(got, EnvInputs) and isinstance(got.root, str)
            assert got.root == str(Path(env_dir) / "rootfs")
            assert all(isinstance(b, str) for b in got.qemu_binds)
            assert isinstance(got.accel_ops, tuple)
        _planned_again(env_dir, inputs)


# Another element of the base fingerprint (its index, the value): a record of another
# version of the record, of another Python, of other code (a source file fewer), with
# another value of a setting the plan reads.
BASE_CHANGES: dict[str, tuple[int, object]] = {
    "another version": (0, cache.RECORD_VERSION + 1),
    "another python": (1, (3, 99)),
    "another code": (2, CODE[:-1]),
    "another setting": (3, ("0", None, None, None)),
}
OTHER_RECORDS = (
    "another version",
    "another python",
    "another code",
    "another setting",
    "another env",
    "another root",
    "another accel",
    "another user",
    "writable by others",
    "root changed",
    "meta changed",
    "toolchain changed",
)


@given(st.sampled_from(OTHER_RECORDS))
def test_a_plan_record_made_from_anything_else_is_a_miss(other: str) -> None:
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        other_dir, other_inputs = _env_dir(Path(top), "other")
        base = cache.base_fingerprint(env_dir, inputs.root)
        record = cache.record_path(env_dir, ACCEL)
        if other in BASE_CHANGES:
            at, changed = BASE_CHANGES[other]
            cache.save(env_dir, ACCEL, (*base[:at], changed, *base[at + 1 :]), inputs)
        elif other == "another env":  # its record copied here
            _write_record(env_dir, _save_plan(other_dir, other_inputs))
        elif other == "another root":  # a record this env's files agree with, of another root
            other_base = cache.base_fingerprint(env_dir, other_inputs.root)
            cache.save(env_dir, ACCEL, other_base, other_inputs)
        elif other == "another accel":  # the --no-accel plan's record is another one
            _write_record(env_dir, _save_plan(env_dir, inputs, "none"))
        else:
            _save_plan(env_dir, inputs)
            if other == "another user":
                os.chown(record, 1000, 1000)
            elif other == "writable by others":
                os.chmod(record, 0o664)
            elif other == "root changed":
                (Path(inputs.root) / "usr/bin/cc").write_text("")
            elif other == "meta changed":
                (Path(env_dir) / "armroot.json").write_text('{"board": "pi4"}')
            elif other == "toolchain changed":
                (Path(top) / "toolchain-pi" / "new").write_text("")
        assert no_error(lambda: cache.load(env_dir, ACCEL)) is None
        if other not in ("root changed", "meta changed", "toolchain changed"):
            _planned_again(env_dir, inputs)


def test_regression_a_plan_record_with_a_byte_appended_is_a_miss() -> None:
    """marshal reads one value and ignores what follows it: the record was used."""
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        _write_record(env_dir, _save_plan(env_dir, inputs) + b"\x00")
        assert cache.load(env_dir, ACCEL) is None


def test_regression_a_plan_record_with_a_byte_changed_in_what_it_plans_is_a_miss() -> None:
    """The fingerprint covers what the plan was made from, not the plan: a changed byte in
    the CPU QEMU emulates (or a file's content, an environment variable) was used."""
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        blob = _save_plan(env_dir, inputs)
        _write_record(env_dir, blob.replace(b"cortex-a72", b"cortex-a73"))
        assert cache.load(env_dir, ACCEL) is None


def test_regression_a_plan_record_renamed_to_another_plan_s_is_a_miss() -> None:
    """plan-none.record (the --no-accel plan) renamed plan-clang.record was used for clang
    sessions, and the other way round."""
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        _write_record(env_dir, _save_plan(env_dir, inputs, "none"))
        assert cache.load(env_dir, ACCEL) is None


def test_regression_a_plan_record_of_another_root_is_a_miss() -> None:
    """A record the env's files agree with, planning a session in another env's root."""
    with plan_scratch() as top:
        env_dir, _ = _env_dir(Path(top))
        _, theirs = _env_dir(Path(top), "other")
        cache.save(env_dir, ACCEL, cache.base_fingerprint(env_dir, theirs.root), theirs)
        assert cache.load(env_dir, ACCEL) is None


def test_regression_a_plan_record_once_writable_by_others_is_replaced() -> None:
    """save kept a record of the same bytes as it was, even one load refuses (writable by
    others, another user's): every session planned afresh from then on."""
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        _save_plan(env_dir, inputs)
        os.chmod(cache.record_path(env_dir, ACCEL), 0o666)
        assert cache.load(env_dir, ACCEL) is None
        _planned_again(env_dir, inputs)


def test_a_plan_record_truncated_at_any_length_is_a_miss() -> None:
    with plan_scratch() as top:
        env_dir, inputs = _env_dir(Path(top))
        blob = _save_plan(env_dir, inputs)
        for length in range(len(blob)):
            _write_record(env_dir, blob[:length])
            assert cache.load(env_dir, ACCEL) is None, length


# --- cached bootstraps (armroot.images.bootstraps) ----------------------------------------

MIRROR = "http://mirror.invalid/debian"
RELEASE_TEXT = "Origin: Debian\nSuite: trixie\nDate: Sat, 08 Nov 2026 10:00:00 UTC\n"
KEY = Key.of("trixie", "arm64", "apt", ("cmake", "ca-certificates"), MIRROR)
RELEASE = Release.parse(RELEASE_TEXT)
BODY = b"a packed root\n" * 8


def _fake_pack(body: bytes) -> Callable[..., None]:
    def pack(rootfs: Path, output: Path, compress: str = "") -> None:
        output.write_bytes(body)

    return pack


def _made(body: bytes = BODY, key: Key = KEY, release: Release = RELEASE) -> Entry:
    """A bootstrap kept as bootstraps.save keeps it (the packer writes ``body``)."""
    with replaced(packmod, "pack", _fake_pack(body)), bootstraps.locked(key):
        return bootstraps.save(key, release, Path("/nonexistent-root"))


def _create(release: Release | None, body: bytes = BODY) -> tuple[str, Entry]:
    """What `armroot create` does with the cache (commands/create.py _debian_root): restore
    the cached bootstrap if its record leads to an intact tarball, else bootstrap again and
    keep that (``--offline``: ``release`` None, the newest one)."""
    entry = bootstraps.lookup(KEY, release)
    if entry is not None:
        if bootstraps.intact(entry) is None:
            return "restored", entry
        bootstraps.drop(entry)
    return "made", _made(body, KEY, release or RELEASE)


def _restored_matches(entry: Entry, release: Release | None, home: Path) -> None:
    """A restored bootstrap is the one of this key (and Release), and its tarball, inside
    the cache, is the one its record describes."""
    assert entry.key == KEY
    assert release is None or entry.release == release
    tarball = entry.tarball
    assert tarball.resolve().is_relative_to(home.resolve() / bootstraps.DIR), tarball
    assert tarball.name == f"{entry.release.sha256[:16]}{bootstraps.SUFFIX}"
    content = tarball.read_bytes()
    assert len(content) == entry.size and hashlib.sha256(content).hexdigest() == entry.sha256


HOSTILE_BOOTSTRAP = {
    "sha256": ["../../../w/x", "/tmp", "..", "../x", "a/b", "", "x" * 64, "0" * 64],
    "suite": ["../x", "bookworm", "trixie\n"],
    "include": ["cmake", "ca-certificates,cmake"],
    "size": ["112", "-1", "1e999"],
    "mirror": [MIRROR + "/", "file:///"],
}


def _record_variant(data: st.DataObject, made: Entry) -> bytes:
    """``made``'s record damaged, or another valid record (another key, Release, size or
    sha256)."""
    other = data.draw(
        st.sampled_from(
            ["damaged", "another key", "another release", "another size", "another sha256"]
        )
    )
    if other == "another key":
        key = Key.of("bookworm", "arm64", "apt", (), MIRROR)
        return _entry_json(made, key=key)
    if other == "another release":
        return _entry_json(made, release=Release.parse(RELEASE_TEXT + "Valid-Until: x\n"))
    if other == "another size":
        return _entry_json(made, size=data.draw(st.integers(-1, 2 * len(BODY))).__index__())
    if other == "another sha256":
        return _entry_json(made, sha256=hashlib.sha256(data.draw(st.binary())).hexdigest())
    return damaged_json(data, json.loads(made.to_json()), HOSTILE_BOOTSTRAP)


def _entry_json(made: Entry, **changes: object) -> bytes:
    fields = {
        "key": made.key,
        "release": made.release,
        "sha256": made.sha256,
        "size": made.size,
        "created": made.created,
        "armroot_version": made.armroot_version,
    }
    fields.update(changes)
    return Entry(**fields).to_json().encode()  # type: ignore[arg-type]


@given(st.data())
def test_a_bootstrap_is_restored_only_from_a_record_of_its_key_and_tarball(
    data: st.DataObject,
) -> None:
    offline = data.draw(st.booleans())
    beside = data.draw(st.booleans())  # the record replaced, or another one beside it
    with scratch() as top, environ(ARMROOT_CACHE=top):
        made = _made()
        variant = _record_variant(data, made)
        if beside:
            name = data.draw(st.sampled_from(["other", "0" * 16, "." + made.record.stem]))
            made.record.with_name(f"{name}.json").write_bytes(variant)
        else:
            made.record.write_bytes(variant)
        release = None if offline else RELEASE
        how, entry = no_error(lambda: _create(release))
        if how == "restored":
            _restored_matches(entry, release, Path(top))
        # Whatever happened, the next create restores this one.
        how, entry = no_error(lambda: _create(release))
        assert how == "restored"
        _restored_matches(entry, release, Path(top))
        assert no_error(bootstraps.entries) is not None


@given(st.sampled_from(HOSTILE_BOOTSTRAP["sha256"]), st.booleans())
def test_a_bootstrap_record_naming_another_place_removes_nothing_there(
    release_sha256: str, offline: bool
) -> None:
    with scratch() as top, environ(ARMROOT_CACHE=f"{top}/c/d"):
        outside = Path(top) / "w"
        outside.mkdir()
        for name in ("x.json", f"x{bootstraps.SUFFIX}", "tmp.json", f"tmp{bootstraps.SUFFIX}"):
            (outside / name).write_text("the host's file\n")
        witness = Witness(outside)
        made = _made()
        hostile = Release(release_sha256, "today")
        made.record.with_name("hostile.json").write_bytes(_entry_json(made, release=hostile))
        no_error(lambda: _create(None if offline else RELEASE))
        no_error(bootstraps.entries)
        no_error(bootstraps.clean)
        assert witness.unchanged()


def test_regression_a_bootstrap_record_with_an_infinite_size_is_ignored() -> None:
    with scratch() as top, environ(ARMROOT_CACHE=top):
        made = _made()
        made.record.write_text(made.to_json().replace(f'"size": {made.size}', '"size": 1e999'))
        assert bootstraps.lookup(KEY, RELEASE) is None
        assert bootstraps.entries() == []


def test_regression_a_bootstrap_record_nested_too_deeply_is_ignored() -> None:
    with scratch() as top, environ(ARMROOT_CACHE=top):
        made = _made()
        made.record.write_text("[" * 30_000 + "]" * 30_000)
        assert bootstraps.lookup(KEY, RELEASE) is None


def test_regression_a_stray_bootstrap_record_does_not_defeat_the_cache() -> None:
    """A record beside the key's own, describing its Release with another tarball, was
    taken (the newest), found altered, and the key's own record and tarball dropped: every
    create bootstrapped again."""
    with scratch() as top, environ(ARMROOT_CACHE=top):
        made = _made()
        stray = _entry_json(made, sha256="0" * 64, created="9999")
        made.record.with_name("other.json").write_bytes(stray)
        assert _create(RELEASE)[0] == "restored"


def test_regression_a_bootstrap_record_naming_another_directory_is_ignored() -> None:
    """--offline took a record whose Release sha256 names another directory: dropping it
    (its tarball is not the recorded one) raised ValueError from Path.with_name."""
    with scratch() as top, environ(ARMROOT_CACHE=top):
        made = _made()
        hostile = _entry_json(made, release=Release("../../../w/x", "today"))
        made.record.with_name("hostile.json").write_bytes(hostile)
        assert _create(None) == ("restored", made)
        assert bootstraps.entries() == [made]
        assert bootstraps.clean() == made.size


def test_a_bootstrap_record_truncated_at_any_length_is_not_used() -> None:
    with scratch() as top, environ(ARMROOT_CACHE=top):
        made = _made()
        text = made.record.read_bytes()
        for length in range(len(text.rstrip())):  # short of the whole object
            made.record.write_bytes(text[:length])
            assert bootstraps.lookup(KEY, None) is None, length


# --- twin sets (armroot.twins.prepare) ----------------------------------------------------

STATUS = "Package: make\nStatus: install ok installed\nVersion: 4.4\nArchitecture: arm64\n"
TREE = "trees/" + "a" * 64
LIBC = "trees/" + "b" * 64


def _twin_cache(top: Path, status: str = STATUS) -> tuple[Path, Path, prepare.TwinSet]:
    """A root, a cache holding its twin set (made for the root's dpkg status), the set."""
    root, home = top / "root", top / "cache"
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (root / prepare.STATUS).write_text(status)
    twins = home / "twins"
    (twins / TREE / "usr/bin").mkdir(parents=True, exist_ok=True)
    (twins / TREE / "usr/bin/make").write_bytes(b"\x7fELF native make")
    (twins / TREE / archive.MD5SUMS).write_text("")
    (twins / LIBC / "lib64").mkdir(parents=True, exist_ok=True)
    (twins / LIBC / "lib64" / table.LOADER).write_bytes(b"\x7fELF loader")
    key = prepare.set_key(root)
    made = prepare.TwinSet(
        key,
        f"{LIBC}/lib64/{table.LOADER}",
        f"sets/{key}/lib",
        (table.Program("ab" * 20, "usr/bin/make", f"{TREE}/usr/bin/make", "make", False, "", 16),),
        (select.Missing("sed", "no amd64 sed"),),
        "",
        False,
    )
    (twins / "sets" / key / "lib").mkdir(parents=True, exist_ok=True)
    (twins / "sets" / key / "set.json").write_text(made.to_json())
    return root, home, made


def _set_matches(found: prepare.TwinSet, key: str, home: Path) -> None:
    """A twin set in use is the one of the root as it is, naming files of the cache only,
    each twin of the size it was recorded with."""
    twins = (home / "twins").resolve()
    assert found.key == key and found.libdir == f"sets/{key}/lib"
    assert isinstance(found.compiler, bool) and isinstance(found.plugin, str)
    paths = [found.loader, *([found.plugin] if found.plugin else [])]
    for program in found.programs:
        assert isinstance(program, table.Program)
        assert all(isinstance(v, str) for v in program[:4] + program[5:6])
        assert isinstance(program.driver, bool) and type(program.size) is int
        paths.append(program.twin_path)
        assert (twins / program.twin_path).stat().st_size == program.size
    for path in paths:
        assert not path.startswith("/") and ".." not in path.split("/"), path
        assert (twins / path).resolve().is_relative_to(twins / "trees"), path
    assert all(
        isinstance(m, select.Missing) and all(isinstance(v, str) for v in m) for m in found.missing
    )


HOSTILE_TWINS = {
    "twin_path": ["../../w/x", "/etc/passwd", "trees/../../w/x", "trees", f"{TREE}/usr/bin", ""],
    "loader": ["/lib64/ld-linux-x86-64.so.2", "../w/x", f"{TREE}/usr/bin/missing"],
    "libdir": ["sets/other/lib", "/", "../w"],
    "plugin": ["/x", "../w/x"],
    "key": ["other", "../w", ""],
    "size": ["16", "1e999", "-1"],
}


@given(st.data())
def test_a_twin_set_is_used_only_as_made_for_the_root_as_it_is(data: st.DataObject) -> None:
    with scratch() as top:
        outside = Path(top) / "w"
        outside.mkdir()
        (outside / "x").write_text("the host's file\n")
        (outside / archive.MD5SUMS).write_text("the host's file\n")
        witness = Witness(outside)
        root, home, made = _twin_cache(Path(top))
        record = home / "twins/sets" / made.key / "set.json"
        other = data.draw(
            st.sampled_from(["damaged", "another root's", "twin changed", "tree gone"])
        )
        if other == "another root's":  # the set of another state of the root, copied here
            _, _, theirs = _twin_cache(Path(top) / "theirs", STATUS.replace("4.4", "4.3"))
            record.write_text(theirs._replace(libdir=made.libdir).to_json())
        elif other == "twin changed":
            (home / "twins" / TREE / "usr/bin/make").write_bytes(b"\x7fELF another make")
        elif other == "tree gone":
            (home / "twins" / LIBC / "lib64" / table.LOADER).unlink()
        else:
            record.write_bytes(damaged_json(data, json.loads(made.to_json()), HOSTILE_TWINS))
        found = no_error(lambda: prepare.cached(root, home))
        if found is not None:
            _set_matches(found, made.key, home)
        assert other == "damaged" or found is None, other
        assert witness.unchanged()
        # The session makes the set again (prepare): the next one uses it.
        _twin_cache(Path(top))
        assert prepare.cached(root, home) == made


_SOURCES_PIECES = st.sampled_from(
    [
        *("deb ", "deb-src ", "[", "]", "signed-by=/k.gpg ", "http://deb.debian.org/debian "),
        *("trixie ", "main", "\n", "#", " ", "Types: deb\n", "URIs: file:/x\n", "Suites: ./\n"),
        *("\x00", "é"),
    ]
)
_SOURCES = st.one_of(st.lists(_SOURCES_PIECES, max_size=12).map("".join), st.text(max_size=80))


@given(_SOURCES, _SOURCES)
def test_a_twin_set_is_looked_up_whatever_the_root_s_apt_sources_say(
    listed: str, deb822: str
) -> None:
    """The set's key reads the root's apt sources (anything its owner wrote): a key, the
    same each time, and the set made for it, none other."""
    with scratch() as top:
        root, home, made = _twin_cache(Path(top))
        (root / "etc/apt/sources.list.d").mkdir(parents=True)
        (root / "etc/apt/sources.list").write_text(listed)
        (root / "etc/apt/sources.list.d/x.sources").write_text(deb822)
        key = prepare.set_key(root)  # any exception fails: cached() lets only OSError by
        assert key == prepare.set_key(root) and len(key) == 24
        found = no_error(lambda: prepare.cached(root, home))
        assert found == (made if key == made.key else None)
        if key != made.key:
            (home / "twins/sets" / made.key).rename(home / "twins/sets" / key)
            theirs = made._replace(key=key, libdir=f"sets/{key}/lib")
            (home / "twins/sets" / key / "set.json").write_text(theirs.to_json())
            assert prepare.cached(root, home) == theirs


def test_a_twin_set_is_not_used_once_the_root_changed() -> None:
    with scratch() as top:
        root, home, made = _twin_cache(Path(top))
        assert prepare.cached(root, home) == made
        (root / prepare.STATUS).write_text(STATUS + "\nPackage: gcc\n")
        assert prepare.cached(root, home) is None


def test_regression_a_twin_set_naming_a_twin_by_a_number_is_a_miss() -> None:
    with scratch() as top:
        root, home, made = _twin_cache(Path(top))
        record = home / "twins/sets" / made.key / "set.json"
        record.write_text(record.read_text().replace(f'"{TREE}/usr/bin/make"', "5"))
        assert prepare.cached(root, home) is None


def test_regression_a_twin_set_naming_a_twin_outside_the_cache_is_a_miss() -> None:
    with scratch() as top:
        outside = Path(top) / "w"
        outside.mkdir()
        (outside / "x").write_text("the host's file\n")
        (outside / archive.MD5SUMS).write_text("the host's file\n")
        witness = Witness(outside)
        root, home, made = _twin_cache(Path(top))
        record = home / "twins/sets" / made.key / "set.json"
        record.write_text(record.read_text().replace(f"{TREE}/usr/bin/make", "../../w/x"))
        assert prepare.cached(root, home) is None
        assert witness.unchanged()


def test_regression_a_twin_set_of_another_key_is_a_miss() -> None:
    with scratch() as top:
        root, home, made = _twin_cache(Path(top))
        record = home / "twins/sets" / made.key / "set.json"
        record.write_text(made._replace(key="other", libdir="sets/other/lib").to_json())
        assert prepare.cached(root, home) is None


def test_regression_a_twin_set_whose_loader_is_gone_is_a_miss() -> None:
    with scratch() as top:
        root, home, _ = _twin_cache(Path(top))
        (home / "twins" / LIBC / "lib64" / table.LOADER).unlink()
        assert prepare.cached(root, home) is None


def test_a_twin_set_record_truncated_at_any_length_is_a_miss() -> None:
    with scratch() as top:
        root, home, made = _twin_cache(Path(top))
        record = home / "twins/sets" / made.key / "set.json"
        text = record.read_bytes()
        for length in range(len(text)):
            record.write_bytes(text[:length])
            assert prepare.cached(root, home) is None, length


# --- an env's metadata (armroot.store.envs) -----------------------------------------------

META = EnvMeta(
    "pi",
    "arm64",
    "debian:trixie",
    "2026-12-01T10:00:00+00:00",
    cpu_level="armv8-a",
    qemu_cpu="cortex-a72",
    uname_machine="aarch64",
    os_name="Debian GNU/Linux 13 (trixie)",
    size_bytes=700 << 20,
    armroot_version="1.0",
    board="pi4",
    source_sha256="c" * 64,
    gcc_target=probe.Target("aarch64-linux-gnu", "14", ("-mlittle-endian",), "k", None).to_dict(),
)
_TEXT_FIELDS = ("name", "arch", "source", "created", "armroot_version")
_OPTIONAL_FIELDS = ("cpu_level", "qemu_cpu", "uname_machine", "os_name", "board", "source_sha256")


def _meta_typed(meta: EnvMeta) -> None:
    """What the rest of armroot takes an EnvMeta's fields to be."""
    assert all(isinstance(getattr(meta, f), str) for f in _TEXT_FIELDS)
    assert all(
        getattr(meta, f) is None or isinstance(getattr(meta, f), str) for f in _OPTIONAL_FIELDS
    )
    assert type(meta.size_bytes) is int and 0 <= meta.size_bytes < 2**63
    assert meta.gcc_target is None or isinstance(meta.gcc_target, dict)
    if meta.gcc_target:
        target = probe.Target.from_dict(meta.gcc_target)
        assert target is None or isinstance(target, probe.Target)


def _meta_variant(data: st.DataObject) -> bytes:
    other = data.draw(st.sampled_from(["damaged", "another env", "exported"]))
    if other == "another env":
        return (
            META._replace(name=data.draw(st.sampled_from(["other", "PI", "pi ", "pi/.."])))
            .to_json()
            .encode()
        )
    if other == "exported":  # what an older or newer armroot could have written
        extra = data.draw(st.dictionaries(st.text(max_size=8), VALUES, max_size=3))
        return json.dumps({**extra, **json.loads(META.to_json())}).encode()
    hostile = {"size_bytes": ["700", "1e999", "-1", "true"], "gcc_target": ["[]", '"x"']}
    return damaged_json(data, json.loads(META.to_json()), hostile)


@given(st.data())
def test_an_env_s_metadata_is_read_typed_or_is_one_line_whose_remedy_works(
    data: st.DataObject,
) -> None:
    text = _meta_variant(data)
    with scratch() as top:
        store = Store(Path(top) / "store")
        env_dir = store.envs_dir / "pi"
        (env_dir / "rootfs").mkdir(parents=True)
        (env_dir / "armroot.json").write_bytes(text)
        got = outcome(lambda: store.get("pi"))
        if isinstance(got, str):
            assert "armroot rm pi" in got, got  # its remedy ...
            assert outcome(lambda: store.remove("pi")) is None  # ... works
            assert not env_dir.exists()
        else:
            _meta_typed(got.meta)
            assert got.meta.name == "pi" and got.path == env_dir


@given(st.data())
def test_exported_metadata_is_read_typed_or_refused_as_create_expects(data: st.DataObject) -> None:
    """`armroot create` from a tarball reads the armroot.json it carries (untrusted), and
    ignores it on ValueError or TypeError (commands/create.py)."""
    text = _meta_variant(data)
    try:
        meta = EnvMeta.from_json(text.decode(errors="replace"))
    except (ValueError, TypeError) as exc:
        assert "\n" not in printable(str(exc))
    else:
        _meta_typed(meta)


def test_regression_metadata_that_is_not_an_object_is_damaged() -> None:
    with scratch() as top:
        store = Store(Path(top))
        (store.envs_dir / "pi").mkdir(parents=True)
        (store.envs_dir / "pi/armroot.json").write_text("[]")
        assert "metadata of 'pi' is damaged" in str(outcome(lambda: store.get("pi")))


def test_regression_damaged_metadata_can_be_removed_as_its_hint_says() -> None:
    with scratch() as top:
        store = Store(Path(top))
        (store.envs_dir / "pi").mkdir(parents=True)
        (store.envs_dir / "pi/armroot.json").write_text("{not json")
        assert "armroot rm pi" in str(outcome(lambda: store.get("pi")))
        store.remove("pi")
        assert store.names() == []


def test_regression_metadata_of_another_env_is_refused() -> None:
    with scratch() as top:
        store = Store(Path(top))
        (store.envs_dir / "pi").mkdir(parents=True)
        (store.envs_dir / "pi/armroot.json").write_text(META._replace(name="other").to_json())
        assert "another env ('other')" in str(outcome(lambda: store.get("pi")))


def test_regression_metadata_with_an_infinite_size_is_damaged() -> None:
    """1e999 is a float, inf: `armroot info` then failed in int(inf) (OverflowError)."""
    with scratch() as top:
        store = Store(Path(top))
        (store.envs_dir / "pi").mkdir(parents=True)
        text = META.to_json().replace(f'"size_bytes": {META.size_bytes}', '"size_bytes": 1e999')
        (store.envs_dir / "pi/armroot.json").write_text(text)
        assert "its size_bytes is not a size" in str(outcome(lambda: store.get("pi")))


def test_regression_a_stored_gcc_target_that_is_not_an_object_is_asked_again() -> None:
    """TypeError (string indices must be integers) from accel.setup's Target.from_dict."""
    assert probe.Target.from_dict("x") is None  # type: ignore[arg-type]
    assert probe.Target.from_dict([1]) is None  # type: ignore[arg-type]
    assert probe.Target.from_dict(None) is None  # type: ignore[arg-type]


# --- the root's gcc's answer to the probe (armroot.accel.probe) ---------------------------

SEP = probe.SEPARATOR + "\n"
ARM64_CC1 = (
    " /usr/libexec/gcc/aarch64-linux-gnu/14/cc1 -E -quiet -v -imultiarch aarch64-linux-gnu "
    "/dev/null -o /dev/null -mlittle-endian -mabi=lp64 -fasynchronous-unwind-tables "
    "-dumpbase null\n"
)
ARMHF_CC1 = (
    " /usr/libexec/gcc/arm-linux-gnueabihf/14/cc1 -E -quiet -v -imultilib . -imultiarch "
    "arm-linux-gnueabihf /dev/null -o /dev/null -mfloat-abi=hard -mtls-dialect=gnu -mthumb "
    "-mlibarch=armv7-a+fp -march=armv7-a+fp -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 "
    "-dumpbase null\n"
)
REAL_ANSWERS = (
    f"aarch64-linux-gnu\n14\n{SEP}Using built-in specs.\nCOLLECT_GCC=gcc\nTarget: "
    f"aarch64-linux-gnu\ngcc version 14.2.0 (Debian 14.2.0-19)\n{ARM64_CC1}ignoring nonexistent "
    "directory\n#include <...> search starts here:\n /usr/include\nEnd of search list.\n"
    f"{SEP}#define __aarch64__ 1\n#define __SIZEOF_LONG__ 8\n#define __BYTE_ORDER__ "
    "__ORDER_LITTLE_ENDIAN__\n#define __GNUC__ 14\n"
    "#define __has_include(STR) __has_include__(STR)\n",
    f"arm-linux-gnueabihf\n12\n{SEP}gcc version 12.2.0 (Raspbian 12.2.0-14+rpi1)\n{ARMHF_CC1}"
    f"{SEP}#define __arm__ 1\n#define __ARM_ARCH 7\n#define __ARM_FP 12\n#define __thumb2__ 1\n"
    "#define __ARM_PCS_VFP 1\n#define __WCHAR_MAX__ 0xffffffffU\n#define __CHAR_UNSIGNED__ 1\n",
)
_PROBE_PIECES = st.sampled_from(
    [
        SEP,
        probe.SEPARATOR,
        "\n",
        "\r\n",
        " ",
        "\t",
        "aarch64-linux-gnu",
        "arm-linux-gnueabi",
        "14",
        "4.2.1",
        " /usr/libexec/gcc/x/14/cc1 ",
        '"/usr/bin/clang" -cc1 -triple aarch64',
        "-march=armv7-a+fp",
        "-march=armv6+nofp+fp",
        "-march=armv8-a+crypto+simd",
        "-march=+",
        "-mfpu=neon",
        "-D",
        "-U",
        "-o",
        "-imultilib",
        "#define ",
        "#define F(x) x",
        "__ARM_ARCH 7",
        "__ARM_FP 0x0c",
        "'A'",
        "12UL",
        "9" * 5000,
        "sh: 1: gcc: not found",
        "\x00",
        "\x1b[31m",
        "\u2028",
        "\x85",
        "\udcff",
        "\ufffd",
    ]
)
_NEAR_PROBE = st.lists(_PROBE_PIECES, max_size=16).map("".join)


@st.composite
def gcc_output(draw: st.DrawFn) -> str:
    """What a root's gcc (or a broken shell) could print: near the probe's grammar, a real
    answer damaged at the byte level and decoded as armroot decodes it, or anything."""
    how = draw(st.sampled_from(["near", "real", "text"]))
    if how == "near":
        return draw(_NEAR_PROBE)
    if how == "text":
        return draw(st.text(max_size=200))
    data = draw(st.data())
    blob = draw(st.sampled_from(REAL_ANSWERS)).encode()
    for _ in range(draw(st.integers(0, 3))):
        blob = damaged_bytes(data, blob)
    return blob.decode("utf-8", draw(st.sampled_from(["replace", "surrogateescape"])))


def _one_line(exc: Exception) -> str:
    """How a probe failure reaches people: in a warning, or stored as the target's problem
    (printed through log, which makes it printable): one non-empty line."""
    line = printable(str(exc))
    assert line.strip() and "\n" not in line and "\r" not in line, repr(line)
    return line


def _has_no_whitespace(word: str) -> bool:
    return bool(word) and word.split() == [word]


@given(gcc_output())
def test_the_probe_answer_parses_or_is_one_line(text: str) -> None:
    try:
        answer = probe.parse_probe(text)
    except probe.ProbeError as exc:
        _one_line(exc)
        return
    assert _has_no_whitespace(answer.triple) and _has_no_whitespace(answer.gcc_version)
    assert all(_has_no_whitespace(arg) for arg in answer.cc1_args)
    _macros_ok(answer.macros)
    try:
        flags = probe.clang_flags(answer.triple, answer.cc1_args)
    except ValueError as exc:  # setup.discover: the target's problem
        _one_line(exc)
        flags = ()
    assert all(flag.startswith("-") and _has_no_whitespace(flag) for flag in flags)
    assert not set(flags) & (probe._CC1_DROP | probe._CC1_DROP_WITH_VALUE)
    target = probe.Target(answer.triple, answer.gcc_version, flags, "key", None)
    assert probe.Target.from_dict(json.loads(json.dumps(target.to_dict()))) == target


def _macros_ok(macros: dict[str, str]) -> None:
    for name, value in macros.items():
        assert _has_no_whitespace(name) and "(" not in name, name
        assert len(value.splitlines()) <= 1 and value == value.lstrip(), value


@given(gcc_output())
def test_macros_parse_to_names_and_one_line_values_that_compare(text: str) -> None:
    macros = probe.parse_macros(text)
    _macros_ok(macros)
    again = "".join(f"#define {name} {value}\n" for name, value in macros.items())
    assert probe.parse_macros(again) == macros
    names = (*probe.ABI_MACROS, *macros)
    assert probe.compare_macros(macros, dict(macros), names) is None
    clang = probe.parse_macros(text[::-1])
    differs = probe.compare_macros(macros, clang, names)
    assert (differs is None) == (probe.compare_macros(clang, macros, names) is None)
    if differs is not None:
        assert "\n" not in printable(differs)


@given(gcc_output())
def test_sysroot_flags_are_known_flags_each_once(text: str) -> None:
    flags = probe.sysroot_flags(text)
    assert set(flags) <= set(probe.SYSROOT_FEATURES.values())
    assert len(flags) == len(set(flags))


@given(VALUES)
def test_a_stored_gcc_target_reads_back_or_is_asked_again(value: JSON) -> None:
    target = probe.Target.from_dict(value)  # type: ignore[arg-type]
    if target is not None:
        assert all(isinstance(v, str) for v in (target.triple, target.gcc_version, target.gcc_key))
        assert all(isinstance(f, str) for f in target.flags)
        assert target.problem is None or isinstance(target.problem, str)


# --- ccache's stats log (armroot.accel.compile_cache) -------------------------------------

_STATS_PIECES = st.sampled_from(
    [
        "# /src/a.c\n",
        "# /b/CMakeFiles/CMakeScratch/TryCompile-x/src.c\n",
        "# conftest.c\n",
        "#\n",
        "#",
        "direct_cache_hit\n",
        "preprocessed_cache_hit\n",
        "cache_miss\n",
        "called_for_link\n",
        "  cache_miss  \n",
        "\n",
        "\r\n",
        "\u2028",
        "\x00",
        " ",
    ]
)


@st.composite
def stats_log(draw: st.DrawFn) -> str:
    how = draw(st.sampled_from(["near", "bytes", "text"]))
    if how == "near":
        return "".join(draw(st.lists(_STATS_PIECES, max_size=20)))
    if how == "bytes":  # read with errors="replace" (commands/build.py)
        return draw(st.binary(max_size=200)).decode("utf-8", "replace")
    return draw(st.text(max_size=200))


@given(stats_log())
def test_the_stats_log_counts_each_compile_once(text: str) -> None:
    stats = compile_cache.parse_stats_log(text)
    assert all(type(n) is int and n >= 0 for n in stats)
    assert sum(stats) == sum(1 for line in text.splitlines() if line.startswith("#"))
    assert 0.0 <= stats.hit_rate <= 1.0
    line = stats.line()
    assert line.isprintable() and line.startswith("compiler cache: ")
