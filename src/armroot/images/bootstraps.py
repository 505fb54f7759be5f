"""Cached Debian bootstraps: a root mmdebstrap made, kept as a tarball keyed by everything
that made it, so the next `armroot create` of the same key restores it in seconds.

The key is the suite, architecture, variant, sorted include set and mirror (:class:`Key`),
plus the archive's signed Release the root was made from (:class:`Release`): a newer Release
means newer packages, so a fresh bootstrap, unless the user asks for the cached one
(``--offline``). Only the newest Release's root of a key is kept.

Why a zstd tarball rather than a read-only base directory copied (or reflinked) per env:
on this kind of host (ext4, no reflinks) a base costs the root's whole size again (683 MiB
for the default env against 225 MiB packed), a directory cannot be checked by one checksum
before it is used, and a tarball is what `armroot export` writes and CI caches carry. Its
restore (libarchive, :mod:`armroot.images.tarball`) takes a few seconds (docs/benchmarks.md
W5).

Layout under the cache home::

    bootstraps/KEY/.lock              flock: one bootstrap (or restore check) of KEY at a time
    bootstraps/KEY/RELEASE.tar.zst    the root, packed right after mmdebstrap made it
    bootstraps/KEY/RELEASE.json       what made it (Entry), with the tarball's sha256

The Release is fetched and checked by the same code as the twins' (twins/archive.py), so
it is kept where that code keeps it: twins/index/<source key>/.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from armroot import __version__, log
from armroot.errors import SourceError
from armroot.images import download, pack
from armroot.store.envs import cache_home

FORMAT = 1  # bump when what a cached root holds or how it is packed changes
DIR = "bootstraps"
SUFFIX = ".tar.zst"
# mmdebstrap on a Debian host trusts apt's keys; elsewhere it reads Debian's keyring.
HOST_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class Key:
    """What a bootstrap is made from, apart from the archive's state."""

    suite: str
    arch: str
    variant: str
    include: tuple[str, ...]  # sorted, without duplicates
    mirror: str

    @classmethod
    def of(cls, suite: str, arch: str, variant: str, include: tuple[str, ...], mirror: str) -> Key:
        return cls(suite, arch, variant, tuple(sorted(set(include))), mirror.rstrip("/"))

    def digest(self) -> str:
        """The key's directory name (pure)."""
        made_by = asdict(self) | {"format": FORMAT}
        return hashlib.sha256(json.dumps(made_by, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        extra = f" + {','.join(self.include)}" if self.include else ""
        return f"Debian {self.suite} {self.arch} ({self.variant}{extra})"


@dataclass(frozen=True)
class Release:
    """The archive's signed Release file a bootstrap was made from."""

    sha256: str
    date: str  # its Date field, for people

    @classmethod
    def parse(cls, text: str) -> Release:
        """From the verified Release text (pure)."""
        date = next(
            (line.split(":", 1)[1].strip() for line in text.splitlines() if line[:5] == "Date:"),
            "",
        )
        return cls(hashlib.sha256(text.encode()).hexdigest(), date)


@dataclass(frozen=True)
class Entry:
    """One cached bootstrap, as its .json records it."""

    key: Key
    release: Release
    sha256: str  # of the tarball
    size: int
    created: str
    armroot_version: str

    @property
    def tarball(self) -> Path:
        return _key_dir(self.key) / f"{self.release.sha256[:16]}{SUFFIX}"

    @property
    def record(self) -> Path:
        return self.tarball.with_name(f"{self.release.sha256[:16]}.json")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Entry:
        data = json.loads(text)
        key = data["key"]
        return cls(
            Key(
                str(key["suite"]),
                str(key["arch"]),
                str(key["variant"]),
                tuple(str(p) for p in key["include"]),
                str(key["mirror"]),
            ),
            Release(str(data["release"]["sha256"]), str(data["release"]["date"])),
            str(data["sha256"]),
            int(data["size"]),
            str(data["created"]),
            str(data["armroot_version"]),
        )


def _root() -> Path:
    return cache_home() / DIR


def _key_dir(key: Key) -> Path:
    return _root() / key.digest()


def archive_release(key: Key) -> Release:
    """The suite's Release as the archive signs it now (InRelease, checked by gpgv against
    the keys mmdebstrap trusts on this host)."""
    from armroot.twins import archive
    from armroot.twins.sources import AptSource

    host = Path("/")
    source = AptSource(key.mirror, key.suite, ())
    if not archive.keyrings(host, source) and Path(HOST_KEYRING).is_file():
        source = source._replace(signed_by=(HOST_KEYRING,))
    try:
        text = archive.verified_release(host, source, cache_home())
    except archive.TwinUnavailable as exc:
        raise SourceError(
            f"cannot read the signed Release of {key.mirror} {key.suite}: {exc.message}",
            "check the network and --mirror; --offline restores the newest cached bootstrap "
            "without asking the archive",
        ) from exc
    return Release.parse(text)


@contextlib.contextmanager
def locked(key: Key) -> Iterator[None]:
    """Held while a bootstrap of ``key`` is checked, made or restored: two creates of one
    key bootstrap once (the second waits, then restores the first's)."""
    import fcntl

    directory = _key_dir(key)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info(f"    waiting for another armroot making {key.describe()}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _entries_in(directory: Path) -> list[Entry]:
    """The records in ``directory`` that are their entry's own record: one of another key or
    Release (copied or renamed here; its paths could name anything) is not used."""
    found = []
    for record in sorted(directory.glob("*.json")):
        try:
            entry = Entry.from_json(record.read_text())
            own = entry.record == record  # ValueError: a Release naming another directory
        except (OSError, ValueError, KeyError, TypeError, OverflowError, RecursionError):
            log.debug(f"ignoring the unreadable record {record}")
            continue
        if not own:
            log.debug(f"ignoring the record {record}: it is {entry.record}'s")
            continue
        found.append(entry)
    return sorted(found, key=lambda e: e.created)


def lookup(key: Key, release: Release | None) -> Entry | None:
    """The cached bootstrap of ``key`` made from ``release`` (None: the newest one)."""
    directory = _key_dir(key)
    entries = [e for e in _entries_in(directory) if e.key == key] if directory.is_dir() else []
    if release is not None:
        entries = [e for e in entries if e.release == release]
    return entries[-1] if entries else None


def intact(entry: Entry) -> str | None:
    """Why the entry's tarball cannot be used (missing, truncated, altered), or None."""
    try:
        size = entry.tarball.stat().st_size
    except FileNotFoundError:
        return "its tarball is missing"
    if size != entry.size:
        return f"its tarball is {size} bytes, not {entry.size} (truncated or altered)"
    digest = download.sha256_of(entry.tarball)
    if digest != entry.sha256:
        return f"its tarball's sha256 is {digest[:16]}…, not {entry.sha256[:16]}…"
    return None


def drop(entry: Entry) -> None:
    entry.record.unlink(missing_ok=True)  # the record first: no record, no use
    entry.tarball.unlink(missing_ok=True)


def save(key: Key, release: Release, rootfs: Path) -> Entry:
    """Pack ``rootfs`` (just bootstrapped) as the cached root of ``key`` at ``release``;
    older Releases' roots of the key are dropped. Call under :func:`locked`."""
    directory = _key_dir(key)
    name = release.sha256[:16]
    partial = directory / f".{name}{SUFFIX}.partial"
    with log.step(f"Keeping the bootstrap in the cache ({key.describe()})"):
        try:
            pack.pack(rootfs, partial, compress=pack.ZSTD)
            entry = Entry(
                key,
                release,
                download.sha256_of(partial),
                partial.stat().st_size,
                datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                __version__,
            )
            os.replace(partial, entry.tarball)
        finally:
            partial.unlink(missing_ok=True)
        record = entry.record.with_suffix(".json.partial")
        record.write_text(entry.to_json())
        os.replace(record, entry.record)
        log.info(f"    {entry.size / 2**20:.0f} MiB in {entry.tarball}")
    for old in _entries_in(directory):
        if old.release != release:
            drop(old)
    return entry


def entries() -> list[Entry]:
    """Every cached bootstrap (for `armroot cache list`)."""
    root = _root()
    if not root.is_dir():
        return []
    found: list[Entry] = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        found += _entries_in(directory)
    return found


def clean() -> int:
    """Remove every cached bootstrap; the bytes freed. Each key is removed under its lock,
    so a create restoring one meanwhile finishes first."""
    root = _root()
    if not root.is_dir():
        return 0
    freed = 0
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        for entry in _entries_in(directory):
            with locked(entry.key):
                with contextlib.suppress(FileNotFoundError):
                    freed += entry.tarball.stat().st_size
                drop(entry)
        for partial in directory.glob(".*.partial"):
            freed += partial.stat().st_size
            partial.unlink(missing_ok=True)
    return freed
