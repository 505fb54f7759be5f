"""Who armroot is on this host: root of the host, or root of its own user namespace, and
whether it holds CAP_SYS_ADMIN. Light (see :mod:`armroot.session`)."""

from __future__ import annotations

import os

from armroot.errors import HostError

CAP_SYS_ADMIN = 21

_entered = [False]


def mark_entered() -> None:
    """Called once this process has become root of its own user namespace."""
    _entered[0] = True


def entered() -> bool:
    """True once this process has become root of its own user namespace."""
    return _entered[0]


def is_host_root() -> bool:
    """Root of the host (not root of armroot's user namespace)."""
    return os.geteuid() == 0 and not _entered[0]


def has_sys_admin(status: str) -> bool:
    """Whether /proc/self/status text shows CAP_SYS_ADMIN in the effective set. Pure."""
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return False


def _status() -> str:
    try:
        with open("/proc/self/status") as status:
            return status.read()
    except OSError:
        return ""


def require_sys_admin() -> None:
    """Root without CAP_SYS_ADMIN (a container without privileges) cannot make the
    session's mount namespace: say so before trying."""
    if not has_sys_admin(_status()):
        raise HostError(
            "armroot runs as root but without CAP_SYS_ADMIN (a container started without "
            "privileges?), so it cannot make a session's mount namespace",
            "start the container with --cap-add SYS_ADMIN (or --privileged), or run armroot "
            "as an ordinary user with a subordinate id range (rootless)",
        )
