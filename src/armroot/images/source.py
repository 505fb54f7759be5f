"""Parse ``--from``: where a new environment's root comes from. Pure."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from armroot.errors import UsageError

DEBIAN_SUITES = (
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "sid",
    "oldstable",
    "stable",
    "testing",
    "unstable",
)
DEFAULT_SOURCE = "debian:trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TARBALL_SUFFIXES = (
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".tar.zst",
    ".tar.bz2",
    ".tbz2",
)


class DebianSource(NamedTuple):
    suite: str

    def describe(self) -> str:
        return f"debian:{self.suite}"


class TarballSource(NamedTuple):
    path: Path

    def describe(self) -> str:
        return str(self.path)


Source = DebianSource | TarballSource


def parse(text: str) -> Source:
    """Turn the user's ``--from`` into a Source, or a UsageError that says what is accepted."""
    if text.startswith("debian:"):
        suite = text.removeprefix("debian:")
        if suite not in DEBIAN_SUITES:
            raise UsageError(
                f"unknown Debian suite '{suite}'",
                f"use one of {', '.join(DEBIAN_SUITES)} (for example --from debian:trixie)",
            )
        return DebianSource(suite)
    scheme, sep, _ = text.partition(":")
    if sep and "/" not in scheme and not Path(text).exists():
        raise UsageError(
            f"unknown source scheme '{scheme}:' in --from {text}",
            "use debian:SUITE or the path of a root filesystem tarball (.tar, .tar.gz, .tar.xz, "
            ".tar.zst, .tar.bz2)",
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise UsageError(
            f"--from {text}: no such file",
            "give the path of a root filesystem tarball, or debian:SUITE",
        )
    if path.is_dir():
        raise UsageError(
            f"--from {text} is a directory",
            "pack it first (tar -C DIR -cpf root.tar .), or give debian:SUITE",
        )
    if not path.name.endswith(TARBALL_SUFFIXES):
        raise UsageError(
            f"--from {text}: not a tarball armroot knows ({path.suffix or 'no suffix'})",
            f"give a root filesystem tarball ending in one of {', '.join(TARBALL_SUFFIXES)}",
        )
    return TarballSource(path.resolve())
