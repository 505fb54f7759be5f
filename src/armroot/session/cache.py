"""The plan cache: an env's part of a session plan, kept with a fingerprint of what made it.

Most of what `armroot run` costs before the command starts is not the session: it is
Python importing the planning code (the store, the native toolchain set-up) and reading
what the plan depends on. So :func:`armroot.session.run.run` keeps, per env, the part of the
plan that comes from the env and the host (:class:`~armroot.session.inputs.EnvInputs`)
together with a fingerprint of everything that part was made from; a later session that
finds the fingerprint unchanged plans from the record. A record that does not match what
made it, or that another user could have written, is not used.
Light (see :mod:`armroot.session`).
"""

from __future__ import annotations

import marshal
import os
import sys

from armroot import log
from armroot.accel import layout
from armroot.errors import ArmrootError
from armroot.host import privileges
from armroot.rootfs.paths import resolve_in_root_str
from armroot.sandbox.ops import Bind, from_plain, to_plain
from armroot.session.inputs import EnvInputs
from armroot.store import home as store_home

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.session.request import Request

RECORD_VERSION = 6  # 5: the record sealed by its CRC-32, and says which plan it is; 6: twins
# a distributed compile may name
# The environment variables the env's part of the plan reads (the native cmake switch, and
# where the native toolchain is cached).
ENVIRON = ("ARMROOT_NATIVE_CMAKE", "ARMROOT_CACHE", "XDG_CACHE_HOME", "ARMROOT_CCACHE")
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
# Inside the root: the directories whose entries the plan looks up (which compilers and
# which cmake there are: dpkg and pacman replace files by renaming, so a change shows in the
# directory), and the files it reads: gcc's identity, cmake's, and the package database that
# says which cmake version the root has (the native cmake matches it).
ROOT_DIRS = (
    "/",
    "/usr",
    "/usr/bin",
    "/usr/share",
    "/etc/alternatives",
    layout.PACMAN_LOCAL,
    layout.APT_SOURCES_DIR,
)
ROOT_FILES = (layout.ROOT_GCC, layout.ROOT_CMAKE, layout.DPKG_STATUS, layout.APT_SOURCES)


def usable_for(request: Request) -> bool:
    """Whether the env's part of this request's plan is the one the cache keeps: as the
    host's root (a rootless armroot's store and ids are the user's), with the env's own
    board, not verbose (the native compilers' config says whether to echo), and not a
    package change (the root is about to change under it). ARMROOT_QUICK=0 turns it off."""
    return (
        os.environ.get("ARMROOT_QUICK") != "0"
        and privileges.is_host_root()
        and request.board is None
        and request.exclusive_for is None
        and log.VERBOSITY.get() < log.Verbosity.VERBOSE
    )


def _signature(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns)


def _code() -> tuple[tuple[str, tuple[int, int, int, int] | None], ...]:
    """armroot's own source files: a record made by other code is not used."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found: list[tuple[str, tuple[int, int, int, int] | None]] = []
    for directory, subdirs, files in os.walk(package):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".c", ".sh")):
                path = os.path.join(directory, name)
                found.append((path, _signature(path)))
    return tuple(found)


def _binfmt() -> tuple[tuple[str, bytes], ...] | None:
    """Every binfmt_misc entry's text (which handler runs ARM programs, with which flags)."""
    try:
        names = sorted(os.listdir(BINFMT_DIR))
    except OSError:
        return None
    state: list[tuple[str, bytes]] = []
    for name in names:
        if name == "register":
            continue
        try:
            with open(os.path.join(BINFMT_DIR, name), "rb") as entry:
                state.append((name, entry.read()))
        except OSError:
            state.append((name, b""))
    return tuple(state)


def _in_root(root: str, path: str) -> tuple[int, int, int, int] | str | None:
    """The signature of ``path`` inside ``root``, links followed there (a loop: so marked)."""
    try:
        return _signature(resolve_in_root_str(root, path))
    except ArmrootError:
        return "symlink loop"


def base_fingerprint(env_dir: str, root: str) -> tuple[object, ...]:
    """What the env's part of the plan was made from, short of the host files it binds."""
    inside = [_in_root(root, p) for p in ROOT_DIRS]
    files = [_in_root(root, p) for p in ROOT_FILES]
    return (
        RECORD_VERSION,
        sys.version_info[:2],
        _code(),
        tuple(os.environ.get(var) for var in ENVIRON),
        _binfmt(),
        _signature(os.path.join(env_dir, store_home.META_FILE)),
        tuple(inside),
        tuple(files),
    )


def fingerprint(base: tuple[object, ...], inputs: EnvInputs) -> tuple[object, ...]:
    """``base`` and the host files the env's part of the plan binds read-only (QEMU, the
    toolchain; not the compiler cache, which every compile changes), and the compiler
    cache's program whether or not the plan binds it (installed later, it is used)."""
    sources = [
        *inputs.qemu_binds,
        *(op.source for op in inputs.accel_ops if isinstance(op, Bind) and op.readonly),
        layout.ccache_beside(sys.executable),
    ]
    return (*base, tuple((s, _signature(s)) for s in sources))


def record_path(env_dir: str, accel: str) -> str:
    return os.path.join(env_dir, f"plan-{accel}.record")


def _trusted(st: os.stat_result) -> bool:
    """Whether a record is one this user wrote, that no one else could change."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _sealed(payload: bytes) -> bytes:
    """``payload`` after its CRC-32: a record changed on disk (a byte altered, cut short,
    more bytes after it) is found before anything in it is read."""
    from zlib import crc32

    return crc32(payload).to_bytes(4, "little") + payload


def _unsealed(data: bytes) -> bytes | None:
    """The payload of a record :func:`_sealed` made, None if it is not that record whole."""
    from zlib import crc32

    payload = data[4:]
    return payload if data[:4] == crc32(payload).to_bytes(4, "little") else None


def save(env_dir: str, accel: str, base: tuple[object, ...], inputs: EnvInputs) -> None:
    """Keep ``inputs`` in the cache. The file is written unnamed (O_TMPFILE) and given
    its name when complete, so a reader finds a whole record or none (then it goes the full
    way), and a killed armroot leaves no partial file behind."""
    from armroot.host.syscalls import link_fd

    plain = (
        *inputs[:4],
        to_plain(inputs.accel_ops),
        inputs.user_namespace,
        inputs.pacman_wrapper,
        inputs.distribute_as,
        inputs.distribute_twins,
    )
    data = _sealed(marshal.dumps((accel, fingerprint(base, inputs), plain)))  # type: ignore[arg-type]
    path = record_path(env_dir, accel)
    try:
        with open(path, "rb") as current:
            if _trusted(os.fstat(current.fileno())) and current.read() == data:
                return  # the same record is there (a session that planned without it)
    except OSError:
        pass
    fd = os.open(env_dir, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        try:  # noqa: SIM105 - this module does not import contextlib
            os.unlink(path)
        except FileNotFoundError:
            pass
        link_fd(fd, path)  # EEXIST if another run linked its record first: that one stays
    finally:
        os.close(fd)


def load(env_dir: str, accel: str) -> EnvInputs | None:
    """The recorded inputs if what they were made from is unchanged; None otherwise (no
    record, a damaged one, another plan's or another root's, one of other types)."""
    try:
        with open(record_path(env_dir, accel), "rb") as record:
            if not _trusted(os.fstat(record.fileno())):
                return None
            payload = _unsealed(record.read())
        if payload is None:
            return None
        made_for, recorded, plain = marshal.loads(payload)
        if len(plain) != 9:
            return None  # a record of another shape
        root, qemu_cpu, qemu_binds, accel_env, accel_ops, user_namespace, pacman, name = plain[:8]
        twins = plain[8]
        if made_for != accel or root != os.path.join(env_dir, store_home.ROOTFS_DIR):
            return None  # another plan's record (renamed), or of another env's root
        ops = from_plain(accel_ops)
        inputs = EnvInputs(
            root,
            qemu_cpu,
            qemu_binds,
            accel_env,
            ops,
            bool(user_namespace),
            bool(pacman),
            name,
            tuple(tuple(t) for t in twins),
        )
        current = fingerprint(base_fingerprint(env_dir, inputs.root), inputs)
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError):
        return None
    return inputs if current == recorded else None
