"""Package-manager adapters: the commands that install and upgrade packages inside a root.

Pure: each adapter only builds argv lists; :mod:`armroot.commands.packages` runs them.
"""

from __future__ import annotations

from pathlib import Path

from armroot.errors import ArmrootError
from armroot.pkg.adapters import APK, APT, PACMAN, Adapter
from armroot.rootfs.info import read_os_release
from armroot.rootfs.paths import resolve_in_root

ADAPTERS: tuple[Adapter, ...] = (APT, PACMAN, APK)


def detect(rootfs: Path) -> Adapter:
    """The root's package manager, from os-release and the programs it has."""
    release = read_os_release(rootfs)
    ids = [release.get("ID", ""), *release.get("ID_LIKE", "").split()]
    for family in ids:
        for adapter in ADAPTERS:
            if family in adapter.families and resolve_in_root(rootfs, adapter.binary).exists():
                return adapter
    for adapter in ADAPTERS:
        if resolve_in_root(rootfs, adapter.binary).exists():
            return adapter
    raise ArmrootError(
        "this root has no package manager armroot knows (apt, pacman or apk)",
        "install packages by hand with `armroot run ENV -- ...`",
    )


__all__ = ["ADAPTERS", "Adapter", "detect"]
