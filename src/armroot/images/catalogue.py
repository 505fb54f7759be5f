"""Named root filesystem sources with their real upstream URLs and how each is verified.

Plain data. ``ARMROOT_CATALOGUE`` may name a JSON file of further entries (a list of objects
with the fields of :class:`Entry`), which are added to, and may replace, the built-in ones.
"""

from __future__ import annotations

import difflib
import json
import os
from typing import NamedTuple

from armroot.errors import UsageError
from armroot.rootfs import boards
from armroot.rootfs.arch import ARM64, ARMEL, ARMHF, CpuLevel

SHA256 = "sha256"  # a pinned sha256 in ``checksum``
SHA256_FILE = "sha256-file"  # sha256sum-style file upstream publishes, at ``checksum``
MD5_FILE = "md5-file"  # md5sum-style file upstream publishes (weak; sha256 pinned on first use)
MMDEBSTRAP = "mmdebstrap"  # a bootstrap from a signed Debian archive (apt verifies it)
VERIFICATIONS = (SHA256, SHA256_FILE, MD5_FILE, MMDEBSTRAP)

TARBALL = "tarball"
DISK_IMAGE = "disk-image"
DEBIAN = "debian"


class Entry(NamedTuple):
    id: str
    title: str
    kind: str  # tarball, disk-image or debian
    arch: str
    boards: tuple[str, ...]
    url: str  # for debian: the mirror
    verify: str
    checksum: str = ""  # the sha256, or the URL of the checksum file
    size: int = 0  # approximate download size in bytes, 0 if unknown
    suite: str = ""  # for debian entries
    unsupported: str = ""  # why boards not in ``boards`` cannot use it, if there is a reason

    def describe_verification(self) -> str:
        return {
            SHA256: f"pinned sha256 {self.checksum[:16]}…",
            SHA256_FILE: f"sha256 from {self.checksum}",
            MD5_FILE: f"md5 from {self.checksum}, sha256 pinned in the cache on first download",
            MMDEBSTRAP: "apt verifies the archive's signed Release file (debian-archive-keyring)",
        }[self.verify]


_ALL_BOARDS = boards.ALL_NAMES
_V7_BOARDS = boards.for_arch(ARMHF, CpuLevel.V7)
_V6_BOARDS = boards.for_arch(ARMHF, CpuLevel.V6)
_ARM64_BOARDS = boards.for_arch(ARM64)
_MiB = 2**20

_ALARM = "http://os.archlinuxarm.org/os"
_ALARM_NO_V6 = "Arch Linux ARM dropped ARMv6 (Pi Zero, Pi 1) in 2022: it has no image for them"
_RPIOS = "https://downloads.raspberrypi.com"
_ALPINE = "https://dl-cdn.alpinelinux.org/alpine/v3.20/releases"

BUILTIN: tuple[Entry, ...] = (
    Entry(
        "archlinuxarm:rpi-armv7",
        "Arch Linux ARM for Raspberry Pi (ARMv7)",
        TARBALL,
        ARMHF.name,
        _V7_BOARDS,
        f"{_ALARM}/ArchLinuxARM-rpi-armv7-latest.tar.gz",
        MD5_FILE,
        f"{_ALARM}/ArchLinuxARM-rpi-armv7-latest.tar.gz.md5",
        460 * _MiB,
        unsupported=_ALARM_NO_V6,
    ),
    Entry(
        "archlinuxarm:rpi-aarch64",
        "Arch Linux ARM for Raspberry Pi (AArch64)",
        TARBALL,
        ARM64.name,
        _ARM64_BOARDS,
        f"{_ALARM}/ArchLinuxARM-rpi-aarch64-latest.tar.gz",
        MD5_FILE,
        f"{_ALARM}/ArchLinuxARM-rpi-aarch64-latest.tar.gz.md5",
        520 * _MiB,
        unsupported=_ALARM_NO_V6,
    ),
    Entry(
        "raspios:lite-armhf",
        "Raspberry Pi OS Lite 32-bit (bookworm, 2025-05-13)",
        DISK_IMAGE,
        ARMHF.name,
        _V6_BOARDS,
        f"{_RPIOS}/raspios_lite_armhf/images/raspios_lite_armhf-2025-05-13/"
        "2025-05-13-raspios-bookworm-armhf-lite.img.xz",
        SHA256_FILE,
        f"{_RPIOS}/raspios_lite_armhf/images/raspios_lite_armhf-2025-05-13/"
        "2025-05-13-raspios-bookworm-armhf-lite.img.xz.sha256",
        470 * _MiB,
    ),
    Entry(
        "raspios:lite-arm64",
        "Raspberry Pi OS Lite 64-bit (bookworm, 2025-05-13)",
        DISK_IMAGE,
        ARM64.name,
        _ARM64_BOARDS,
        f"{_RPIOS}/raspios_lite_arm64/images/raspios_lite_arm64-2025-05-13/"
        "2025-05-13-raspios-bookworm-arm64-lite.img.xz",
        SHA256_FILE,
        f"{_RPIOS}/raspios_lite_arm64/images/raspios_lite_arm64-2025-05-13/"
        "2025-05-13-raspios-bookworm-arm64-lite.img.xz.sha256",
        440 * _MiB,
    ),
    Entry(
        "alpine:armhf",
        "Alpine Linux 3.20 minirootfs (armhf, ARMv6)",
        TARBALL,
        ARMHF.name,
        _V6_BOARDS,
        f"{_ALPINE}/armhf/alpine-minirootfs-3.20.3-armhf.tar.gz",
        SHA256_FILE,
        f"{_ALPINE}/armhf/alpine-minirootfs-3.20.3-armhf.tar.gz.sha256",
        3 * _MiB,
    ),
    Entry(
        "alpine:aarch64",
        "Alpine Linux 3.20 minirootfs (aarch64)",
        TARBALL,
        ARM64.name,
        _ARM64_BOARDS,
        f"{_ALPINE}/aarch64/alpine-minirootfs-3.20.3-aarch64.tar.gz",
        SHA256_FILE,
        f"{_ALPINE}/aarch64/alpine-minirootfs-3.20.3-aarch64.tar.gz.sha256",
        4 * _MiB,
    ),
    *(
        Entry(
            f"debian:{suite}-{arch.name}",
            f"Debian {suite} {arch.name} (mmdebstrap)",
            DEBIAN,
            arch.name,
            boards.for_arch(arch),
            "http://deb.debian.org/debian",
            MMDEBSTRAP,
            suite=suite,
        )
        for suite in ("bookworm", "trixie")
        for arch in (ARM64, ARMHF, ARMEL)
    ),
)


def _from_file(path: str) -> list[Entry]:
    try:
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
        return [
            Entry(**{**item, "boards": tuple(item.get("boards", _ALL_BOARDS))}) for item in items
        ]
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(
            f"ARMROOT_CATALOGUE={path} cannot be read ({exc})",
            "it must be a JSON list of entries with id, title, kind, arch, url, verify",
        ) from exc


def entries() -> tuple[Entry, ...]:
    extra_path = os.environ.get("ARMROOT_CATALOGUE")
    if not extra_path:
        return BUILTIN
    extra = _from_file(extra_path)
    replaced = {e.id for e in extra}
    return tuple(e for e in BUILTIN if e.id not in replaced) + tuple(extra)


def lookup(entry_id: str) -> Entry:
    all_entries = entries()
    for entry in all_entries:
        if entry.id == entry_id:
            return entry
    close = difflib.get_close_matches(entry_id, [e.id for e in all_entries], n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else "see `armroot images`"
    raise UsageError(f"unknown image '{entry_id}'", hint)
