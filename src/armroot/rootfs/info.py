"""What a root filesystem is, read from its files, never by running anything in it."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from armroot.errors import SourceError
from armroot.rootfs import arch as archmod
from armroot.rootfs import elfinfo
from armroot.rootfs.arch import Arch, CpuLevel
from armroot.rootfs.paths import resolve_in_root


@dataclass(frozen=True)
class RootInfo:
    arch: Arch
    cpu_level: CpuLevel | None
    os_name: str | None
    os_id: str | None


def read_os_release(root: Path) -> dict[str, str]:
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        path = resolve_in_root(root, candidate)
        if path.is_file():
            return parse_os_release(path.read_text(errors="replace"))
    return {}


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or key.strip().startswith("#"):
            continue
        try:
            parts = shlex.split(raw)
        except ValueError:
            continue
        values[key.strip()] = parts[0] if parts else ""
    return values


def inspect(root: Path, label: str) -> RootInfo:
    """Read the root's architecture from its /bin/sh; refuse anything that is not ARM Linux."""
    sh = resolve_in_root(root, "/bin/sh")
    if not os.path.isfile(sh):
        raise SourceError(
            f"{label} does not look like a root filesystem: it has no /bin/sh",
            "give the tarball of a whole root filesystem (with /bin, /etc, /usr at its top)",
        )
    info = elfinfo.read(sh)
    arch = info.arch()
    if arch is None:
        raise SourceError(
            f"{label} is a {info.machine_name} root, not an ARM one",
            f"armroot runs ARM roots ({', '.join(a.name for a in archmod.ALL)}) under QEMU",
        )
    release = read_os_release(root)
    return RootInfo(arch, info.cpu_level, release.get("PRETTY_NAME"), release.get("ID"))
