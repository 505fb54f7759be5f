"""Read /proc/self/mountinfo: which mount points exist, matched by exact path, never substring."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from armroot.rootfs.paths import is_within


class MountEntry(NamedTuple):
    mount_id: int
    mount_point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out = bytearray()
    i = 0
    raw = field.encode("utf-8", "surrogateescape")
    while i < len(raw):
        octal = raw[i + 1 : i + 4]
        if raw[i : i + 1] == b"\\" and len(octal) == 3 and octal.isdigit():
            out.append(int(octal, 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse(text: str) -> list[MountEntry]:
    entries: list[MountEntry] = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 10 or "-" not in fields:
            continue
        sep = fields.index("-")
        entries.append(
            MountEntry(
                int(fields[0]), _unescape(fields[4]), fields[sep + 1], _unescape(fields[sep + 2])
            )
        )
    return entries


def current(pid: str = "self") -> list[MountEntry]:
    with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return parse(f.read())


def mounts_under(path: Path, entries: list[MountEntry] | None = None) -> list[MountEntry]:
    """Mount points at ``path`` or below it."""
    entries = current() if entries is None else entries
    return [e for e in entries if is_within(path, Path(e.mount_point))]
