"""Mount operations as plain data. :mod:`armroot.sandbox.apply` is the one place that acts.
Light (see :mod:`armroot.session`).

Every ``target`` is a path *inside* the root (absolute, as the root's programs see it); the
applier resolves it with the root as ``/`` so a root's symlinks never lead to the host.
"""

from __future__ import annotations

from armroot.tuples import NamedTuple


class Bind(NamedTuple):
    """Bind a host path (file or directory) at ``target`` inside the root."""

    source: str
    target: str
    readonly: bool = False
    recursive: bool = True
    only_if_target_exists: bool = False
    optional: bool = False  # a failure is a warning, not the end of the session


class Tmpfs(NamedTuple):
    target: str
    mode: int = 0o755
    options: str = ""
    nodev: bool = True
    noexec: bool = False


class Proc(NamedTuple):
    target: str = "/proc"


class Sysfs(NamedTuple):
    """sysfs read-only; where the kernel refuses a fresh sysfs, the host's /sys bound read-only."""

    target: str = "/sys"


class Devpts(NamedTuple):
    target: str = "/dev/pts"


class Symlink(NamedTuple):
    """Create ``target`` as a symlink to ``link_to`` (inside a tmpfs, or in the root if absent)."""

    link_to: str
    target: str
    only_if_absent: bool = True


class File(NamedTuple):
    """Write a new file at ``target``; only under a session tmpfs (/run, /tmp), never the env."""

    target: str
    content: str
    mode: int = 0o644


class Binfmt(NamedTuple):
    """A binfmt_misc instance of the session's own user namespace (Linux >= 6.7) at
    ``target``, with handlers registered in it (each entry: name, magic and mask in hex,
    the interpreter's path inside the root, flags). It replaces, for the session's
    programs, every handler of the host; the host's are untouched."""

    target: str
    entries: tuple[tuple[str, str, str, str, str], ...]


MountOp = Bind | Tmpfs | Proc | Sysfs | Devpts | Symlink | File | Binfmt


class SessionSpec(NamedTuple):
    """Everything a session needs: the root, what to mount, and what to run."""

    root: str
    ops: tuple[MountOp, ...]
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str = "/"
    # With a scratch dir (on the host, empty), the root is an overlay whose upper layer is a
    # tmpfs mounted there inside the session: whatever the session changes vanishes with it.
    ephemeral_scratch: str | None = None
    stdout_fd: int | None = None  # an open fd the command's stdout goes to (for capture)
    # The session in a user namespace of its own (ids mapped one to one), so that it can
    # have binfmt_misc handlers of its own (a Binfmt op).
    user_namespace: bool = False


OP_TYPES: tuple[type[MountOp], ...] = (Bind, Tmpfs, Proc, Sysfs, Devpts, Symlink, File, Binfmt)
_BY_NAME = {t.__name__: t for t in OP_TYPES}


PlainField = str | int | bool | None | tuple[tuple[str, ...], ...]
PlainOp = tuple[str, tuple[PlainField, ...]]


def to_plain(ops: tuple[MountOp, ...]) -> tuple[PlainOp, ...]:
    """``ops`` as nested tuples of strings, numbers and booleans (for marshal)."""
    return tuple((type(op).__name__, tuple(op)) for op in ops)


def from_plain(plain: tuple[PlainOp, ...]) -> tuple[MountOp, ...]:
    """The inverse of :func:`to_plain`; KeyError or TypeError for data it did not make."""
    return tuple(_BY_NAME[kind](*fields) for kind, fields in plain)  # type: ignore[arg-type]
