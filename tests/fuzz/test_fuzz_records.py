"""The JSON records armroot's cache and store keep and read back: the cached bootstraps'
.json (armroot.images.bootstraps), the twin sets' set.json (armroot.twins.prepare), an env's
armroot.json (armroot.store.envs).

Records are written by the real code, then damaged (:mod:`tests.fuzz.damage`), or replaced by
valid records that describe something else (another key, another size or sha256, another
root, another env). What each loader must do with them:

- bootstraps and twin sets are caches: a record that does not match what made it is a miss
  (never an error, never used), and what armroot then makes again is used next;
- an env's armroot.json is the env itself, not a cache: a damaged one is one clean error line,
  and the remedy its hint names (`armroot rm`) works; a read one has the types it says.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from armroot.accel import probe
from armroot.errors import printable
from armroot.images import bootstraps
from armroot.images import pack as packmod
from armroot.images.bootstraps import Entry, Key, Release
from armroot.store.envs import EnvMeta, Store
from armroot.twins import archive, prepare, select, table
from tests.fuzz.damage import VALUES, damaged_json, no_error, replaced, scratch
from tests.fuzz.properties import Witness, outcome


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


def _twin_cache_beside_the_host(top: Path) -> tuple[Witness, Path, Path, prepare.TwinSet, Path]:
    """:func:`_twin_cache` in ``top``, made after a witnessed directory of the host's files
    beside it (``w/x``, ``w/md5sums``: what a set's record could name): the witness, the
    root, the cache, the set, and the set's record."""
    outside = top / "w"
    outside.mkdir()
    (outside / "x").write_text("the host's file\n")
    (outside / archive.MD5SUMS).write_text("the host's file\n")
    witness = Witness(outside)
    root, home, made = _twin_cache(top)
    return witness, root, home, made, home / "twins/sets" / made.key / "set.json"


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
        witness, root, home, made, record = _twin_cache_beside_the_host(Path(top))
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
        witness, root, home, _, record = _twin_cache_beside_the_host(Path(top))
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
