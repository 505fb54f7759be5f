"""What a session needs for native compilers: the mounts and the environment. Pure."""

from __future__ import annotations

from typing import NamedTuple

from armroot.accel.layout import (
    BIN_INSIDE,
    CMAKE_INSIDE,
    CMAKE_TOOLS,
    CONFIG_INSIDE,
    HOST_LIB_INSIDE,
    MACHINE_INSIDE,
    PRELOAD_INSIDE,
    SHIM_INSIDE,
    ZIG_INSIDE,
)
from armroot.accel.shim import NativeCmakeParts, Tool, config_text
from armroot.sandbox.ops import Bind, File, MountOp, Symlink


class SessionAccel(NamedTuple):
    """What a session needs for native compilers: mounts and environment."""

    ops: tuple[MountOp, ...]
    env: tuple[tuple[str, str], ...]
    user_namespace: bool = False  # the session needs a user namespace of its own (twins)
    distribute_as: str = ""  # the clang's name on distcc helpers (armroot.distribute)
    # The twin drivers a distributed compile may name: (build-id, name, shown, root path).
    distribute_twins: tuple[tuple[str, str, str, str], ...] = ()


def session(
    zig_dir: str,
    shim: str,
    triple: str,
    flags: tuple[str, ...],
    tool_list: tuple[Tool, ...],
    verbose: bool,
    path: str,
    native_cmake: NativeCmakeParts | None = None,
) -> SessionAccel:
    """Mounts (all inside the session's /run tmpfs: nothing is written to the env) and the
    environment that put the native tools first."""
    if native_cmake is not None:
        tool_list = (*tool_list, *(Tool(t, t, None) for t in CMAKE_TOOLS))
    ops: list[MountOp] = [
        Bind(zig_dir, ZIG_INSIDE, readonly=True),
        Bind(shim, SHIM_INSIDE, readonly=True, recursive=False),
        File(CONFIG_INSIDE, config_text(triple, flags, tool_list, verbose, bool(native_cmake))),
    ]
    ops += [Symlink("../armroot-shim", f"{BIN_INSIDE}/{t.name}") for t in tool_list]
    if native_cmake is not None:
        n = native_cmake
        ops += [
            Bind(n.host_lib, HOST_LIB_INSIDE, readonly=True),
            Bind(n.bin_dir, f"{CMAKE_INSIDE}/native", readonly=True),
            Bind(n.preload, PRELOAD_INSIDE, readonly=True, recursive=False),
            File(MACHINE_INSIDE, n.machine + "\n"),
            Symlink(f"/usr/share/{n.share_name}", f"{CMAKE_INSIDE}/share/{n.share_name}"),
        ]
        # Files, not symlinks: cmake resolves where it runs from to find its modules.
        ops += [
            Bind(shim, f"{CMAKE_INSIDE}/bin/{t}", readonly=True, recursive=False)
            for t in CMAKE_TOOLS
        ]
    names = {t.name for t in tool_list}
    env = [("PATH", f"{BIN_INSIDE}:{path}")]
    env += [
        (var, f"{BIN_INSIDE}/{name}")
        for var, name in (("CC", "cc"), ("CXX", "c++"))
        if name in names
    ]
    env += [("AR", f"{BIN_INSIDE}/ar"), ("RANLIB", f"{BIN_INSIDE}/ranlib")]
    return SessionAccel(tuple(ops), tuple(env))
