"""What a session needs to run the root's programs through their twins: the twin cache and
the handler bound into the session's /run, the handler's table, and binfmt_misc handlers
of the session's own user namespace (one per QEMU target: the handler runs the twin of a
program it knows and QEMU for every other). Pure; nothing is written to the env."""

from __future__ import annotations

from typing import NamedTuple

from armroot.accel.layout import (
    BINFMT_INSIDE,
    HANDLER_INSIDE,
    MACHINE_INSIDE,
    PLUGIN_DIR_INSIDE,
    PRELOAD_INSIDE,
    SPECS_INSIDE,
    TABLE_INSIDE,
    TWIN_CACHE_INSIDE,
    TWINS_INSIDE,
)
from armroot.accel.mounts import SessionAccel
from armroot.sandbox.ops import Bind, Binfmt, File, MountOp, Symlink
from armroot.twins import table
from armroot.twins.prepare import TwinSet

FLAGS = "POCF"  # argv[0] kept, the program open on AT_EXECFD, its own credentials, fixed


class Emulator(NamedTuple):
    """A QEMU target the host has a static interpreter for."""

    qemu: str  # arm, aarch64
    machine: int  # e_machine
    magic: bytes
    mask: bytes
    interpreter: str  # host path of qemu-<qemu>-static


def qemu_inside(qemu: str) -> str:
    return f"{TWINS_INSIDE}/qemu-{qemu}-static"


def session(
    twin_set: TwinSet,
    twin_cache: str,
    handler: str,
    preload: str,
    emulators: tuple[Emulator, ...],
    machine: str,
    triple: str,
    gcc_major: str,
    verbose: bool,
    dpkg_arch: str = "",
) -> SessionAccel:
    """``dpkg_arch``: the root's Debian architecture (apt-get's twin is given it; without
    it apt-get stays emulated)."""
    at = table.Words(
        TWIN_CACHE_INSIDE,
        twin_set.loader,
        twin_set.libdir,
        PRELOAD_INSIDE,
        SPECS_INSIDE,
        PLUGIN_DIR_INSIDE if twin_set.plugin else "",
        dpkg_arch,
    )
    qemu = tuple((e.machine, qemu_inside(e.qemu)) for e in emulators)
    offload = any(p.offload for p in twin_set.programs)
    ops: list[MountOp] = [
        Bind(twin_cache, TWIN_CACHE_INSIDE, readonly=True),
        Bind(handler, HANDLER_INSIDE, readonly=True, recursive=False),
        Bind(preload, PRELOAD_INSIDE, readonly=True, recursive=False),
        File(MACHINE_INSIDE, machine + "\n"),
        File(TABLE_INSIDE, table.render(twin_set.programs, at, qemu, verbose)),
        File(SPECS_INSIDE, table.driver_specs(triple, gcc_major, offload)),
    ]
    ops += [
        Bind(e.interpreter, qemu_inside(e.qemu), readonly=True, recursive=False) for e in emulators
    ]
    if twin_set.plugin:
        link = f"{PLUGIN_DIR_INSIDE}/liblto_plugin.so"
        ops.append(Symlink(f"{TWIN_CACHE_INSIDE}/{twin_set.plugin}", link))
    entries = tuple(
        (f"armroot-{e.qemu}", e.magic.hex(), e.mask.hex(), HANDLER_INSIDE, FLAGS) for e in emulators
    )
    ops.append(Binfmt(BINFMT_INSIDE, entries))
    return SessionAccel(tuple(ops), (), user_namespace=True)
