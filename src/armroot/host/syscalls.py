"""Thin ctypes wrappers for the Linux system calls Python 3.11 lacks.
Light (see :mod:`armroot.session`).

Nothing here imports the rest of armroot.
"""

from __future__ import annotations

import ctypes
import os
import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:  # the C module under `signal`, without the enum wrappers (enum costs `armroot run` ~5 ms)
    import _signal as signal

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24

MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

# The C library is already loaded into Python; CDLL(None) finds its symbols without the
# ldconfig subprocess that ctypes.util.find_library would start.
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.prctl.argtypes = (
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
)


def _check(result: int, what: str) -> None:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return os.fsencode(value)


def mount(
    source: str | bytes | None,
    target: str | bytes,
    fstype: str | None,
    flags: int,
    data: str | None = None,
) -> None:
    _check(
        _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
        f"mount {fstype or ''} {os.fsdecode(target)}",
    )


def umount(target: str | bytes, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {os.fsdecode(target)}")


AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
_libc.linkat.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)


def link_fd(fd: int, path: str | bytes) -> None:
    """Give the unnamed (O_TMPFILE) file open as ``fd`` the name ``path``."""
    _check(
        _libc.linkat(
            AT_FDCWD, f"/proc/self/fd/{fd}".encode(), AT_FDCWD, _b(path), AT_SYMLINK_FOLLOW
        ),
        f"link {os.fsdecode(path)}",
    )


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def die_with_parent(
    expected_parent: int | None = None, alive_fd: int | None = None, sig: int = signal.SIGKILL
) -> None:
    """PR_SET_PDEATHSIG(``sig``), closing the race where the parent died before the call.

    The parent is known gone if getppid() changed, or (for PID 1 of a new PID namespace,
    whose getppid() is always 0) if the parent's end of the ``alive_fd`` pipe is closed.
    """
    set_pdeathsig(sig)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(137)
    if alive_fd is not None:
        readable, _, _ = select.select([alive_fd], [], [], 0)
        if readable:
            os._exit(137)
