"""Path logic that never lets a root's symlinks reach the host.
Light (see :mod:`armroot.session`).

A root filesystem is full of absolute symlinks (``etc/resolv.conf -> /run/...``,
``usr/bin -> /usr/bin`` in odd roots). Followed on the host they point at the host's files;
armroot resolves them as the root's own programs would see them, with the root as ``/``.
"""

from __future__ import annotations

import os
import stat

from armroot.errors import SandboxError

TYPE_CHECKING = False
if TYPE_CHECKING:  # pathlib is not imported at run time: `armroot run` starts without it
    from pathlib import Path

MAX_SYMLINKS = 40
# The PATH a Linux root's programs expect (a session's default).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def resolve_in_root(root: Path, path: str | Path) -> Path:
    """The host path that ``path`` (absolute inside ``root``) names, symlinks resolved in root.

    Missing trailing components are kept lexically. The result always lies inside ``root``.
    """
    return root.joinpath(*_resolved_parts(str(root), str(path)))


def resolve_in_root_str(root: str, path: str) -> str:
    """:func:`resolve_in_root` on strings."""
    return os.path.join(root, *_resolved_parts(root, path))


def _resolved_parts(root: str, path: str) -> list[str]:
    pending = [p for p in path.split("/") if p not in ("", ".")]
    pending.reverse()  # a stack: the next component last
    done: list[str] = []
    # reached[i]: the host path of done[:i] (reached[0] is the root), built as we go
    reached = [root.rstrip("/") or "/"]
    hops = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if done:
                done.pop()
                reached.pop()
            continue
        candidate = f"{reached[-1].rstrip('/')}/{part}"
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):  # a file on the way: nothing there
            done.append(part)
            # The rest cannot exist either; resolve it lexically.
            for rest in reversed(pending):
                if rest == "..":
                    if done:
                        done.pop()
                elif rest not in ("", "."):
                    done.append(rest)
            break
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise SandboxError(f"too many levels of symbolic links at {candidate}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
                del reached[1:]
            pending += reversed([p for p in target.split("/") if p not in ("", ".")])
            continue
        done.append(part)
        reached.append(candidate)
    return done


def is_within(root: str | Path, path: str | Path) -> bool:
    """True if ``path`` is ``root`` or lies below it (lexically, both absolute)."""
    root_s = os.path.normpath(root)
    path_s = os.path.normpath(path)
    return path_s == root_s or path_s.startswith(root_s.rstrip("/") + "/")
