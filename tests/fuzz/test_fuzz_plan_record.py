"""The session plan record (armroot.session.cache): the plan a session made, kept for the
next session of that env and accel mode.

The record is written by the real code, then damaged (:mod:`tests.fuzz.damage`), given values
of another shape past its checksum, or replaced by a valid record of something else (another
version, Python, code or setting; another env, root or accel mode; another user's, writable
by others; a root, metadata or toolchain changed since). It is a cache: a record that does not
match what made it is a miss (never an error, never used), and the plan the session then
makes again is used next.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from hypothesis import given
from hypothesis import strategies as st

from armroot.sandbox.ops import Bind, File
from armroot.session import cache
from armroot.session.inputs import EnvInputs
from tests.fuzz.damage import damaged_bytes, no_error, replaced, scratch

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
