"""Parse ``--from``: where a new environment's root comes from. Pure (reads the catalogue)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from armroot.errors import UsageError

DEBIAN_SUITES = (
    "bullseye", "bookworm", "trixie", "forky", "sid",
    "oldstable", "stable", "testing", "unstable",
)  # fmt: skip
DEFAULT_SOURCE = "debian:trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.zst", ".tar.bz2", ".tbz2")
IMAGE_SUFFIXES = (".img", ".img.xz", ".zip")
TARBALL = "tarball"
DISK_IMAGE = "disk-image"


class DebianSource(NamedTuple):
    suite: str
    arch: str | None = None  # from a catalogue id such as debian:trixie-armhf
    boards: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"debian:{self.suite}" + (f"-{self.arch}" if self.arch else "")


class FileSource(NamedTuple):
    path: Path
    kind: str  # tarball or disk-image

    def describe(self) -> str:
        return str(self.path)


class RemoteSource(NamedTuple):
    """A file to download: a catalogue entry, or a URL the user gave."""

    url: str
    kind: str
    verify: str  # a catalogue verification, or "" for a plain URL
    checksum: str = ""
    label: str = ""  # the catalogue id, if it came from the catalogue
    arch: str | None = None
    boards: tuple[str, ...] = ()
    unsupported: str = ""  # why other boards cannot use it (the catalogue's word)
    key: str = ""  # openpgp: the signer's key (the catalogue's word)
    extract_sha256: str = ""  # a disk image's own sha256 (the publisher's index's word)

    def describe(self) -> str:
        return self.label or self.url


Source = DebianSource | FileSource | RemoteSource


def kind_of(name: str) -> str | None:
    if name.endswith(TARBALL_SUFFIXES):
        return TARBALL
    if name.endswith(IMAGE_SUFFIXES):
        return DISK_IMAGE
    return None


def _suffix_hint() -> str:
    return (
        f"give a root filesystem tarball ({', '.join(TARBALL_SUFFIXES)}) or a disk image "
        f"({', '.join(IMAGE_SUFFIXES)})"
    )


def parse(text: str, policy: str = "auto") -> Source:
    """Turn the user's ``--from`` into a Source, or a UsageError that says what is accepted.
    A catalogue id reads its publisher's index by ``policy`` (images/indexes.py)."""
    if text.startswith("debian:") and text.removeprefix("debian:") in DEBIAN_SUITES:
        return DebianSource(text.removeprefix("debian:"))
    if text.startswith(("http://", "https://")):
        name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        kind = kind_of(name)
        if kind is None:
            raise UsageError(f"--from {text}: cannot tell what {name!r} is", _suffix_hint())
        return RemoteSource(text, kind, verify="")
    scheme, sep, rest = text.partition(":")
    if sep and rest.startswith("//"):
        raise UsageError(
            f"unknown source scheme '{scheme}:' in --from {text}",
            "use http(s)://, a catalogue id from `armroot images`, debian:SUITE or a file path",
        )
    if sep and "/" not in text and not Path(text).exists():
        return _from_catalogue(text, policy)
    path = Path(text).expanduser()
    if not path.exists():
        raise UsageError(
            f"--from {text}: no such file",
            "give a tarball or disk image path, a URL, debian:SUITE or an id from `armroot images`",
        )
    if path.is_dir():
        raise UsageError(
            f"--from {text} is a directory",
            "pack it first (tar -C DIR -cpf root.tar .), or give debian:SUITE",
        )
    kind = kind_of(path.name)
    if kind is None:
        raise UsageError(
            f"--from {text}: not a tarball or disk image armroot knows "
            f"({path.suffix or 'no suffix'})",
            _suffix_hint(),
        )
    return FileSource(path.resolve(), kind)


def _from_catalogue(text: str, policy: str) -> Source:
    from armroot.images import catalogue

    entry = catalogue.lookup(text, policy)
    if entry.kind == catalogue.DEBIAN:
        return DebianSource(entry.suite, entry.arch, entry.boards)
    return RemoteSource(
        entry.url,
        entry.kind,
        entry.verify,
        entry.checksum,
        entry.id,
        entry.arch,
        entry.boards,
        entry.unsupported,
        entry.key,
        entry.extract_sha256,
    )
