"""Walks over a tree of an env's files that never follow a symlink and never cross into
another filesystem (a mount): safe removal, and size."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from armroot.errors import EnvBusy
from armroot.host import mountinfo


def refuse_mounts(path: Path) -> None:
    found = mountinfo.mounts_under(path)
    if found:
        raise EnvBusy(
            f"refusing to delete {path}: {found[0].mount_point} is mounted below it",
            "unmount it first (armroot never removes files across a mount)",
        )


def safe_remove(path: Path) -> None:
    """Delete ``path`` recursively without following symlinks or crossing a filesystem.

    Refuses (before deleting anything) if a mount point lies below ``path``, and again
    during the walk if a directory sits on another device.
    """
    refuse_mounts(path)
    try:
        top = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(top.st_mode):
        os.unlink(path)
        return
    parent_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _remove_dir_at(parent_fd, path.name, top.st_dev, str(path))
    finally:
        os.close(parent_fd)


def _remove_dir_at(parent_fd: int, name: str, device: int, shown: str) -> None:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=parent_fd)
    try:
        st = os.fstat(fd)
        if st.st_dev != device:
            raise EnvBusy(
                f"refusing to delete {shown}: it is on another filesystem (a mount)",
                "unmount it first (armroot never removes files across a mount)",
            )
        if not st.st_mode & stat.S_IWUSR:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
        with os.scandir(fd) as entries:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for child, is_dir in children:
            if is_dir:
                _remove_dir_at(fd, child, device, f"{shown}/{child}")
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def dir_size(path: Path) -> int:
    """Bytes used by the files below ``path`` (hard links counted once), not following links."""
    total = 0
    seen: set[tuple[int, int]] = set()
    device = os.lstat(path).st_dev
    for dirpath, dirnames, filenames, dirfd in os.fwalk(path):
        kept = []
        for d in dirnames:
            st = os.stat(d, dir_fd=dirfd, follow_symlinks=False)
            if st.st_dev == device:
                kept.append(d)
        dirnames[:] = kept
        del dirpath
        for f in filenames:
            st = os.stat(f, dir_fd=dirfd, follow_symlinks=False)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_blocks * 512
    return total
