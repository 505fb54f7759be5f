"""Can this host run a root of a given architecture, and what does a session need for it?"""

from __future__ import annotations

from pathlib import Path

from armroot.errors import ArmrootError, HostError
from armroot.host import binfmt
from armroot.host import packages as hostpkg
from armroot.rootfs.arch import Arch

FIX = "run `sudo armroot doctor --fix`"


def interpreter_is_static(path: str) -> bool | None:
    """True/False for a readable interpreter; None if it cannot be read."""
    from armroot.rootfs import elfinfo  # pyelftools loads slowly; only this path needs it

    try:
        return elfinfo.read(path).is_static
    except ArmrootError:
        return None


def qemu_binds(arch: Arch, binfmt_dir: Path = binfmt.BINFMT_DIR) -> tuple[str, ...]:
    """Interpreters a session must bind into the root; raises HostError if none can work."""
    if not binfmt.is_mounted(binfmt_dir):
        raise HostError(
            "binfmt_misc is not mounted, so the kernel cannot hand ARM programs to QEMU",
            FIX,
        )
    handler = binfmt.handler_for(arch, binfmt_dir)
    if handler is None:
        package = hostpkg.QEMU_USER_STATIC
        raise HostError(
            f"no binfmt_misc handler for {arch.name} (qemu-{arch.qemu}) is registered",
            f"{package.install_hint()}, then {FIX}",
        )
    if not handler.enabled:
        raise HostError(f"the binfmt_misc handler {handler.name} for {arch.name} is disabled", FIX)
    if handler.fix_binary:
        return ()
    static = interpreter_is_static(handler.interpreter)
    if static is None:
        raise HostError(
            f"the binfmt_misc handler {handler.name} names {handler.interpreter}, which does "
            "not exist",
            f"install {hostpkg.QEMU_USER_STATIC.debian} and {FIX}",
        )
    if not static:
        raise HostError(
            f"the binfmt_misc handler {handler.name} uses {handler.interpreter}, a dynamically "
            "linked QEMU that cannot load inside the root",
            f"install {hostpkg.QEMU_USER_STATIC.debian} (static) and {FIX}",
        )
    return (handler.interpreter,)
