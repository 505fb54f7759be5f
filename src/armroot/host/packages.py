"""Which host package provides what armroot needs, for the host families armroot knows."""

from __future__ import annotations

from typing import NamedTuple


class HostPackage(NamedTuple):
    """One requirement and the command that installs it on each host family."""

    what: str
    debian: str
    fedora: str
    arch: str

    def install_hint(self) -> str:
        return (
            f"install it: Debian/Ubuntu `sudo apt-get install {self.debian}`, "
            f"Fedora `sudo dnf install {self.fedora}`, Arch `sudo pacman -S {self.arch}`"
        )


QEMU_USER_STATIC = HostPackage(
    "static qemu user-mode emulators",
    debian="qemu-user-static",
    fedora="qemu-user-static",
    arch="qemu-user-static qemu-user-static-binfmt",
)
MMDEBSTRAP = HostPackage("mmdebstrap", debian="mmdebstrap", fedora="mmdebstrap", arch="mmdebstrap")
LIBARCHIVE = HostPackage(
    "libarchive", debian="libarchive13", fedora="libarchive", arch="libarchive"
)
FUSE2FS = HostPackage("fuse2fs", debian="fuse2fs", fedora="fuse2fs", arch="e2fsprogs")
MTOOLS = HostPackage("mtools", debian="mtools", fedora="mtools", arch="mtools")
QEMU_SYSTEM = HostPackage(
    "QEMU whole-system emulators for ARM",
    debian="qemu-system-arm",
    fedora="qemu-system-aarch64 qemu-system-arm",
    arch="qemu-system-aarch64 qemu-system-arm",
)
E2FSPROGS = HostPackage("e2fsprogs", debian="e2fsprogs", fedora="e2fsprogs", arch="e2fsprogs")
UIDMAP = HostPackage("newuidmap/newgidmap", debian="uidmap", fedora="shadow-utils", arch="shadow")
GPGV = HostPackage("gpgv (checks archive signatures)", debian="gpgv", fedora="gnupg2", arch="gnupg")

BY_PROGRAM: dict[str, HostPackage] = {
    "mmdebstrap": MMDEBSTRAP,
    "fuse2fs": FUSE2FS,
    "mcopy": MTOOLS,
    "mdir": MTOOLS,
    "qemu-arm-static": QEMU_USER_STATIC,
    "qemu-aarch64-static": QEMU_USER_STATIC,
    "newuidmap": UIDMAP,
    "qemu-system-aarch64": QEMU_SYSTEM,
    "qemu-system-arm": QEMU_SYSTEM,
    "mke2fs": E2FSPROGS,
    "debugfs": E2FSPROGS,
    "newgidmap": UIDMAP,
    "gpgv": GPGV,
}
