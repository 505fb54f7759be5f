"""What two roots are compared by: every path with its type, mode, owner and contents, and
dpkg's view of the packages."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path of a root: type, mode, owner, group, xattrs, and a link's target, a
    file's size and sha256 or a device's numbers."""
    found: dict[str, tuple[object, ...]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            st = path.lstat()
            xattrs = tuple(
                (a, os.getxattr(path, a, follow_symlinks=False))
                for a in sorted(os.listxattr(path, follow_symlinks=False))
            )
            item: tuple[object, ...] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                xattrs,
            )
            if stat.S_ISLNK(st.st_mode):
                item += (os.readlink(path),)
            elif stat.S_ISREG(st.st_mode):
                item += (st.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                item += (os.major(st.st_rdev), os.minor(st.st_rdev))
            found[str(path.relative_to(root))] = item
    return found


def packages(root: Path) -> set[tuple[str, ...]]:
    """(package, architecture, version, status) of each entry in dpkg's status file."""
    found = set()
    for stanza in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        if fields:
            found.add(tuple(fields[k] for k in ("Package", "Architecture", "Version", "Status")))
    return found
