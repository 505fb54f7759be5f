"""The kernel's binfmt_misc handlers: read them, match them to architectures, register them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from armroot.rootfs.arch import Arch

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


class Handler(NamedTuple):
    """One registered binfmt_misc entry."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes

    @property
    def fix_binary(self) -> bool:
        """The F flag: the interpreter was opened at registration, so it works in a chroot."""
        return "F" in self.flags

    def matches(self, arch: Arch) -> bool:
        """True if an executable of ``arch`` would be run by this handler."""
        if self.offset != 0 or not self.magic:
            return False
        sample = arch.binfmt_magic
        if len(sample) < len(self.magic):
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        return all(
            (sample[i] & mask[i]) == (self.magic[i] & mask[i]) for i in range(len(self.magic))
        )


def parse_entry(name: str, text: str) -> Handler:
    """Parse the text of /proc/sys/fs/binfmt_misc/NAME."""
    enabled = False
    interpreter = ""
    flags = ""
    offset = 0
    magic = b""
    mask = b""
    for line in text.splitlines():
        line = line.strip()
        if line == "enabled":
            enabled = True
        elif line.startswith("interpreter "):
            interpreter = line.removeprefix("interpreter ")
        elif line.startswith("flags:"):
            flags = line.removeprefix("flags:").strip()
        elif line.startswith("offset "):
            offset = int(line.removeprefix("offset "))
        elif line.startswith("magic "):
            magic = bytes.fromhex(line.removeprefix("magic "))
        elif line.startswith("mask "):
            mask = bytes.fromhex(line.removeprefix("mask "))
    return Handler(name, enabled, interpreter, flags, offset, magic, mask)


def is_mounted(directory: Path = BINFMT_DIR) -> bool:
    return (directory / "register").exists()


def handlers(directory: Path = BINFMT_DIR) -> list[Handler]:
    """All registered handlers (extension-matching ones are skipped by ``matches``)."""
    found: list[Handler] = []
    if not is_mounted(directory):
        return found
    for entry in sorted(directory.iterdir()):
        if entry.name in ("register", "status"):
            continue
        try:
            found.append(parse_entry(entry.name, entry.read_text()))
        except (OSError, ValueError):
            continue
    return found


def handler_for(arch: Arch, directory: Path = BINFMT_DIR) -> Handler | None:
    """The handler the kernel would use for ``arch``: enabled ones first."""
    matching = [h for h in handlers(directory) if h.matches(arch)]
    matching.sort(key=lambda h: not h.enabled)
    return matching[0] if matching else None


def _escape(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def registration(arch: Arch, interpreter: str, flags: str = "OPF") -> str:
    """The line to write to binfmt_misc/register for ``arch``."""
    return entry_line(arch.binfmt_name, arch.binfmt_magic, arch.binfmt_mask, interpreter, flags)


def entry_line(name: str, magic: bytes, mask: bytes, interpreter: str, flags: str) -> str:
    """The line to write to binfmt_misc/register for a handler by magic (pure)."""
    return f":{name}:M::{_escape(magic)}:{_escape(mask)}:{interpreter}:{flags}"


def register(line: str, directory: Path = BINFMT_DIR) -> None:
    fd = os.open(directory / "register", os.O_WRONLY)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def remove(name: str, directory: Path = BINFMT_DIR) -> None:
    """Unregister handler ``name`` (writing -1 to its entry)."""
    fd = os.open(directory / name, os.O_WRONLY)
    try:
        os.write(fd, b"-1")
    finally:
        os.close(fd)


OWN_INSTANCE_SINCE = (6, 7)  # binfmt_misc of a user namespace's own


def kernel_version(release: str) -> tuple[int, int]:
    """``6.18.44-foo`` -> (6, 18); (0, 0) for what does not parse."""
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1].split("-")[0] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def own_instances(release: str | None = None) -> bool:
    """Whether this kernel gives each user namespace a binfmt_misc of its own."""
    return kernel_version(release or os.uname().release) >= OWN_INSTANCE_SINCE
