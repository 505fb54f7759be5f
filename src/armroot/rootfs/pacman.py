"""pacman in a root: whether its downloads sandbox themselves, which QEMU user-mode cannot
carry out. Read from the root's files, pure. Light (see :mod:`armroot.session`).

pacman 7.0 (libalpm 15) downloads in a child that applies Landlock and, with DownloadUser
set, switches to that user; 7.1 (libalpm 16) adds a seccomp filter and makes a failure of
either fatal ("restricting filesystem access failed because landlock is not supported by
the kernel!", "switching to sandbox user 'alpm' failed!"). qemu-user implements neither
Landlock nor seccomp for its guest. ``--disable-sandbox`` (both versions) turns those off:
in 7.0 Landlock only (the switch to DownloadUser remains, and works where its uid is
mapped), in 7.1 the sandboxed child altogether.
"""

from __future__ import annotations

import os

from armroot.rootfs.paths import resolve_in_root_str

PACMAN = "/usr/bin/pacman"
# Where a root's libalpm is: Arch's /usr/lib, or a Debian multiarch directory.
LIBALPM_DIRS = (
    "/usr/lib",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/arm-linux-gnueabihf",
    "/usr/lib/arm-linux-gnueabi",
)
SANDBOXED_FROM = 15  # libalpm's soname version in pacman 7.0
SANDBOX_OFF = "--disable-sandbox"


def libalpm_version(root: str) -> int | None:
    """The highest libalpm.so.N in the root, if it has one."""
    found: list[int] = []
    for directory in LIBALPM_DIRS:
        try:
            names = os.listdir(resolve_in_root_str(root, directory))
        except OSError:
            continue
        for name in names:
            version = name.removeprefix("libalpm.so.").split(".")[0]
            if name.startswith("libalpm.so.") and version.isdigit():
                found.append(int(version))
    return max(found) if found else None


def sandboxes_downloads(root: str) -> bool:
    """Whether the root's pacman is one whose downloads need ``--disable-sandbox`` here."""
    if not os.path.lexists(resolve_in_root_str(root, PACMAN)):
        return False
    version = libalpm_version(root)
    return version is not None and version >= SANDBOXED_FROM
