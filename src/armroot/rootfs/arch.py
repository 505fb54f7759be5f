"""Architectures armroot runs: names, ELF identity, QEMU handler, binfmt magic.

Plain data; :mod:`armroot.elfinfo` reads a root's binaries and maps them to these.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from armroot.errors import UsageError

EM_ARM = 40
EM_AARCH64 = 183
EM_X86_64 = 62
EM_386 = 3


class Arch(NamedTuple):
    """One architecture, by its Debian name."""

    name: str  # Debian's name: armel, armhf, arm64
    qemu: str  # qemu-<this>-static and the binfmt handler qemu-<this>
    elf_machine: int
    elf_class: int  # 32 or 64
    hard_float: bool | None  # ARM 32-bit float ABI; None where it does not apply
    triple: str  # GNU triple of the distribution's compilers
    aliases: tuple[str, ...]  # other names users type (Arch Linux ARM, uname -m)
    binfmt_magic: bytes
    binfmt_mask: bytes

    @property
    def qemu_static(self) -> str:
        return f"qemu-{self.qemu}-static"

    @property
    def binfmt_name(self) -> str:
        return f"qemu-{self.qemu}"


_ARM_MAGIC = bytes.fromhex("7f454c4601010100000000000000000002002800")
_ARM_MASK = bytes.fromhex("ffffffffffffff00fffffffffffffffffeffffff")
_AARCH64_MAGIC = bytes.fromhex("7f454c460201010000000000000000000200b700")
_AARCH64_MASK = bytes.fromhex("ffffffffffffff00fffffffffffffffffeffffff")

ARMEL = Arch(
    "armel",
    "arm",
    EM_ARM,
    32,
    False,
    "arm-linux-gnueabi",
    ("armv5tel", "armv6l-softfloat"),
    _ARM_MAGIC,
    _ARM_MASK,
)
ARMHF = Arch(
    "armhf",
    "arm",
    EM_ARM,
    32,
    True,
    "arm-linux-gnueabihf",
    ("armv7h", "armv7l", "armv7", "armv6l"),
    _ARM_MAGIC,
    _ARM_MASK,
)
ARM64 = Arch(
    "arm64",
    "aarch64",
    EM_AARCH64,
    64,
    None,
    "aarch64-linux-gnu",
    ("aarch64", "armv8"),
    _AARCH64_MAGIC,
    _AARCH64_MASK,
)

ALL: tuple[Arch, ...] = (ARMEL, ARMHF, ARM64)
QEMU_TARGETS: tuple[str, ...] = ("arm", "aarch64")


def by_name(name: str) -> Arch:
    """The architecture called ``name`` (Debian name or a common alias)."""
    wanted = name.strip().lower()
    for arch in ALL:
        if wanted == arch.name or wanted in arch.aliases:
            return arch
    known = ", ".join(a.name for a in ALL)
    raise UsageError(f"unsupported architecture '{name}'", f"choose one of {known}")


class CpuLevel(enum.Enum):
    """The ARM architecture level a root's binaries are built for (Tag_CPU_arch)."""

    V5TE = "v5te"
    V6 = "v6"
    V7 = "v7"
    V8 = "v8"


class Emulation(NamedTuple):
    """How QEMU emulates a root of one arch and level: CPU model and what `uname -m` says."""

    qemu_cpu: str | None  # QEMU_CPU for every program, None for qemu's default
    uname_machine: str


def default_emulation(arch: Arch, level: CpuLevel | None) -> Emulation:
    """The CPU a root needs when no board says otherwise.

    A root built for ARMv6 (Raspberry Pi OS 32-bit, Arch Linux ARM armv6h) gets an ARM1176 like
    the Pi Zero and Pi 1; an ARMv5TE soft-float root (Debian armel) an ARM926; ARMv7 roots a
    Cortex-A7 like the Pi 2; 64-bit roots a Cortex-A72 like the Pi 4.
    """
    if arch.elf_machine == EM_AARCH64:
        return Emulation("cortex-a72", "aarch64")
    if level is CpuLevel.V5TE:
        return Emulation("arm926", "armv5tejl")
    if level is CpuLevel.V6:
        return Emulation("arm1176", "armv6l")
    return Emulation("cortex-a7", "armv7l")


def uname_machine(arch: Arch, qemu_cpu: str | None) -> str:
    """What `uname -m` says in a root of ``arch`` under QEMU's ``qemu_cpu`` (qemu-user 7.2:
    ARMv5 and ARMv6 cores name themselves, every later 32-bit one is armv7l)."""
    if arch.elf_machine == EM_AARCH64:
        return "aarch64"
    return {"arm926": "armv5tejl", "arm1176": "armv6l"}.get(qemu_cpu or "", "armv7l")
