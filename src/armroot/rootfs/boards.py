"""Raspberry Pi boards: which architecture each runs and which CPU QEMU emulates for it. Pure."""

from __future__ import annotations

from typing import NamedTuple

from armroot.errors import UsageError
from armroot.rootfs.arch import ARM64, ARMHF, Arch, CpuLevel


class Board(NamedTuple):
    name: str
    title: str
    cpu_level: CpuLevel  # the newest ARM architecture level the SoC runs
    qemu_cpu_32: str  # QEMU CPU for 32-bit roots (qemu-arm has no Cortex-A53+ model: "max")
    qemu_cpu_64: str | None  # QEMU CPU for 64-bit roots; None: the board has no 64-bit mode
    page_kib: int = 4  # the page size of the board's default kernel (qemu-user: always 4)

    def runs(self, arch: Arch, level: CpuLevel | None) -> bool:
        """True if programs of ``arch`` built for ``level`` can run on this board."""
        if arch is ARM64:
            return self.qemu_cpu_64 is not None
        order = [CpuLevel.V5TE, CpuLevel.V6, CpuLevel.V7, CpuLevel.V8]
        needed = level or (CpuLevel.V7 if arch is ARMHF else CpuLevel.V5TE)
        return order.index(needed) <= order.index(self.cpu_level)

    def qemu_cpu(self, arch: Arch) -> str:
        if arch is ARM64 and self.qemu_cpu_64 is not None:
            return self.qemu_cpu_64
        return self.qemu_cpu_32


_ARM1176 = (CpuLevel.V6, "arm1176", None)
_A7 = (CpuLevel.V7, "cortex-a7", None)
_A53 = (CpuLevel.V8, "max", "cortex-a53")
_A72 = (CpuLevel.V8, "max", "cortex-a72")
_A76 = (CpuLevel.V8, "max", "cortex-a76")

BOARDS: tuple[Board, ...] = (
    Board("pi-zero", "Raspberry Pi Zero (BCM2835, ARM1176)", *_ARM1176),
    Board("pi-zero-w", "Raspberry Pi Zero W (BCM2835, ARM1176)", *_ARM1176),
    Board("pi1", "Raspberry Pi 1 (BCM2835, ARM1176)", *_ARM1176),
    Board("pi2", "Raspberry Pi 2 (BCM2836, Cortex-A7)", *_A7),
    Board("pi3", "Raspberry Pi 3 (BCM2837, Cortex-A53)", *_A53),
    Board("pi-zero-2", "Raspberry Pi Zero 2 W (RP3A0, Cortex-A53)", *_A53),
    Board("pi4", "Raspberry Pi 4 (BCM2711, Cortex-A72)", *_A72),
    Board("pi400", "Raspberry Pi 400 (BCM2711, Cortex-A72)", *_A72),
    Board("cm4", "Compute Module 4 (BCM2711, Cortex-A72)", *_A72),
    # Raspberry Pi OS boots the Pi 5 with kernel_2712.img, built for 16 KiB pages.
    Board("pi5", "Raspberry Pi 5 (BCM2712, Cortex-A76)", *_A76, page_kib=16),
)
ALL_NAMES = tuple(b.name for b in BOARDS)


QEMU_PAGE_KIB = 4  # qemu-user gives programs the host's page size (x86_64: 4 KiB)


def page_size_warning(board: Board) -> str | None:
    """What a build for ``board`` must know when its kernel's pages are not QEMU's (pure)."""
    if board.page_kib == QEMU_PAGE_KIB:
        return None
    return (
        f"{board.name}'s default kernel uses {board.page_kib} KiB pages, but programs here run "
        f"with qemu-user's {QEMU_PAGE_KIB} KiB: software that bakes the page size in at build "
        "time must be told (jemalloc: ./configure --with-lg-page=14 for 16 KiB; for others, "
        "whatever sets their page size), else it may crash on the board"
    )


def by_name(name: str) -> Board:
    for board in BOARDS:
        if board.name == name:
            return board
    raise UsageError(f"unknown board '{name}'", f"choose one of {', '.join(ALL_NAMES)}")


def for_arch(arch: Arch, level: CpuLevel | None = None) -> tuple[str, ...]:
    """The boards a root of ``arch``/``level`` runs on."""
    return tuple(b.name for b in BOARDS if b.runs(arch, level))
