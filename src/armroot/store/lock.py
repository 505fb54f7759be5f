"""The env lock (``envs/NAME/lock``, flock): shared while sessions run, exclusive while an
env changes or is removed. Light (see :mod:`armroot.session`)."""

from __future__ import annotations

import fcntl
import os

from armroot.errors import EnvBusy, EnvNotFound
from armroot.store.home import LOCK_FILE, META_FILE


def open_lock(env_dir: str, create: bool = True) -> int:
    """An fd on the env's lock file (never through a link); OSError if it cannot be had."""
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    return os.open(os.path.join(env_dir, LOCK_FILE), flags, 0o644)


def try_shared(fd: int) -> bool:
    """Take the lock shared if no change holds it; False (not taken) if one does."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def release(fd: int) -> None:
    """Let go of the lock (the fd stays open)."""
    fcntl.flock(fd, fcntl.LOCK_UN)


def shared(fd: int, name: str, env_dir: str) -> None:
    """Take the lock shared, waiting (and saying so) while a change holds it; the env must
    still be there afterwards."""
    if not try_shared(fd):
        from armroot import log

        log.info(f"waiting for '{name}': another armroot is changing it")
        fcntl.flock(fd, fcntl.LOCK_SH)
    if not os.path.isfile(os.path.join(env_dir, META_FILE)):  # removed while we waited
        raise EnvNotFound(f"'{name}' was removed", "create it again")


def exclusive(fd: int, name: str, purpose: str) -> None:
    """Take the lock exclusively now, or refuse: a session is using the env."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise EnvBusy(
            f"cannot {purpose} '{name}': it is in use by a running armroot session",
            "wait for the session to end (or stop it), then try again",
        ) from None


def in_use(env_dir: str) -> bool:
    """Whether any armroot holds the env's lock (a session, or a change)."""
    try:
        fd = open_lock(env_dir, create=False)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
