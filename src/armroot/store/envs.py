"""Environments on disk: where they live, their metadata, locks, atomic creation, safe removal.

Layout under the store home::

    envs/NAME/rootfs/        the root filesystem
    envs/NAME/armroot.json   metadata (EnvMeta)
    envs/NAME/lock           flock: shared while sessions run, exclusive for changes
    envs/NAME/plan-*.record  the env's part of a session plan (the plan cache, armroot.session)
    staging/NAME.XXXX/       a create in progress (renamed into envs/ when complete)
    trash/                   environments being removed
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from armroot import log
from armroot.errors import ArmrootError, EnvExists, EnvNotFound, HostError, UsageError
from armroot.host import privileges
from armroot.host.syscalls import link_fd
from armroot.store import home as store_home
from armroot.store import lock as envlock
from armroot.store.names import check_name
from armroot.store.tree import refuse_mounts, safe_remove

META_FILE = store_home.META_FILE
LOCK_FILE = store_home.LOCK_FILE
ABANDONED_AFTER = 600.0  # seconds


def _is_root() -> bool:
    """Root of the host: a rootless armroot is root only of its own user namespace, and
    its store stays under the user's XDG directories."""
    return privileges.is_host_root()


def home() -> Path:
    """The store's root directory, canonical (a symlinked store resolves to its target)."""
    return Path(store_home.store_home(_is_root()))


def cache_home() -> Path:
    """Where downloads and other re-creatable files are kept."""
    return Path(store_home.cache_home(_is_root()))


STORE_PARTS = (store_home.ENVS_DIR, "staging", "trash", "cache")


def check_home(root: Path) -> None:
    """Refuse a store at /, at $HOME itself, in a directory holding other things, or on a
    noexec filesystem (nothing in a root could run there)."""
    hint = "set ARMROOT_HOME to a directory of armroot's own, e.g. ~/.local/share/armroot"
    if root == Path("/") or root == Path(os.path.realpath(Path.home())):
        raise UsageError(f"refusing to use {root} as the armroot store", hint)
    if root.is_dir():
        others = [p.name for p in root.iterdir() if p.name not in STORE_PARTS]
        if others:
            raise UsageError(
                f"refusing to use {root} as the armroot store: it holds other files "
                f"({', '.join(sorted(others)[:3])})",
                hint,
            )
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    if os.statvfs(probe).f_flag & os.ST_NOEXEC:
        raise HostError(
            f"the armroot store {root} is on a filesystem mounted noexec: no program in a root "
            "could run",
            "set ARMROOT_HOME to a directory on a filesystem that allows execution",
        )


class EnvMeta(NamedTuple):
    """What armroot knows about an environment; stored as armroot.json."""

    name: str
    arch: str
    source: str
    created: str
    cpu_level: str | None = None
    qemu_cpu: str | None = None
    uname_machine: str | None = None
    os_name: str | None = None
    size_bytes: int = 0
    armroot_version: str = ""
    board: str | None = None
    source_sha256: str | None = None  # of the downloaded image or tarball
    gcc_target: dict[str, object] | None = None  # armroot.accel.probe.Target, once discovered

    def to_json(self) -> str:
        return json.dumps(self._asdict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> EnvMeta:
        """The metadata ``text`` holds (fields of other armroot versions ignored); ValueError
        or TypeError if it holds none: not JSON, not an object, a field missing or not of
        its type."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("nested too deeply") from None
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        meta = cls(**{k: v for k, v in data.items() if k in cls._fields})
        wrong = _wrong_field(meta)
        if wrong is not None:
            raise TypeError(f"its {wrong[0]} is not {wrong[1]}")
        return meta


_TEXT_FIELDS = ("name", "arch", "source", "created", "armroot_version")
_OPTIONAL_TEXT_FIELDS = ("cpu_level", "qemu_cpu", "uname_machine", "os_name", "board")


def _wrong_field(meta: EnvMeta) -> tuple[str, str] | None:
    """The first field of ``meta`` not of its type (its name, what it should be), if any."""
    for field in _TEXT_FIELDS:
        if not isinstance(getattr(meta, field), str):
            return field, "text"
    for field in (*_OPTIONAL_TEXT_FIELDS, "source_sha256"):
        if not isinstance(getattr(meta, field), str | None):
            return field, "text or null"
    if type(meta.size_bytes) is not int or not 0 <= meta.size_bytes < 2**63:
        return "size_bytes", "a size in bytes"
    if not isinstance(meta.gcc_target, dict | None):
        return "gcc_target", "an object or null"
    return None


class Env(NamedTuple):
    """An environment that exists in the store."""

    name: str
    path: Path
    meta: EnvMeta

    @property
    def rootfs(self) -> Path:
        return self.path / store_home.ROOTFS_DIR


class Store:
    """One store directory; every operation on environments' files goes through here."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else home()

    @property
    def envs_dir(self) -> Path:
        return self.root / store_home.ENVS_DIR

    @property
    def staging_dir(self) -> Path:
        return self.root / "staging"

    @property
    def trash_dir(self) -> Path:
        return self.root / "trash"

    def ensure(self) -> None:
        """Make the store's directories (checking first that this is a place for them)."""
        check_home(self.root)
        for directory in (self.envs_dir, self.staging_dir, self.trash_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.clean_stale()

    # --- reading -----------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.envs_dir.is_dir():
            return []
        return sorted(p.name for p in self.envs_dir.iterdir() if (p / META_FILE).is_file())

    def get(self, name: str) -> Env:
        check_name(name)
        path = self.envs_dir / name
        meta_path = path / META_FILE
        if not meta_path.is_file():
            known = self.names()
            hint = (
                f"known environments: {', '.join(known)}"
                if known
                else "create one with `armroot create NAME`"
            )
            raise EnvNotFound(f"no environment named '{name}'", hint)
        hint = f"remove it with `armroot rm {name}` and create it again"
        try:
            meta = EnvMeta.from_json(meta_path.read_text())
        except (ValueError, TypeError) as exc:
            raise ArmrootError(f"the metadata of '{name}' is damaged ({exc})", hint) from exc
        if meta.name != name:
            raise ArmrootError(f"the metadata of '{name}' is of another env ('{meta.name}')", hint)
        return Env(name, path, meta)

    def envs(self) -> list[Env]:
        return [self.get(n) for n in self.names()]

    # --- creating ----------------------------------------------------------------------

    def require_absent(self, name: str) -> None:
        check_name(name)
        if (self.envs_dir / name).exists():
            _raise_exists(name)

    @contextlib.contextmanager
    def staging(self, name: str) -> Iterator[Path]:
        """A fresh staging directory for ``name``, removed unless :meth:`commit` took it."""
        self.require_absent(name)
        with self._locked_dir(name, 0o755) as path:
            yield path

    @contextlib.contextmanager
    def scratch(self, label: str) -> Iterator[Path]:
        """A work directory in the store (on the envs' filesystem), removed at the end."""
        with self._locked_dir(label, 0o700) as path:
            yield path

    @contextlib.contextmanager
    def _locked_dir(self, label: str, mode: int) -> Iterator[Path]:
        """A new directory under staging/ holding a lock while armroot uses it: removed at
        the end, or by the next command's clean_stale if armroot was killed."""
        self.ensure()
        path = self.staging_dir / f"{label}.{os.urandom(4).hex()}"
        path.mkdir(mode=mode)
        lock_fd = _create_locked(path / LOCK_FILE)
        try:
            yield path
        finally:
            if path.exists():
                log.debug(f"removing {path}")
                safe_remove(path)
            os.close(lock_fd)

    def commit(self, staging: Path, meta: EnvMeta) -> Env:
        """Write metadata and rename the staging directory into place, atomically."""
        (staging / META_FILE).write_text(meta.to_json())
        target = self.envs_dir / meta.name
        if target.exists():
            _raise_exists(meta.name)
        os.rename(staging, target)
        return Env(meta.name, target, meta)

    def save_meta(self, env: Env, meta: EnvMeta) -> None:
        """Replace an env's metadata atomically (readers see the old or the new file)."""
        path = env.path / META_FILE
        temporary = env.path / f".{META_FILE}.{os.getpid()}"
        temporary.write_text(meta.to_json())
        os.replace(temporary, path)

    def clean_stale(self) -> None:
        """Remove staging and trash directories that no live armroot process holds."""
        for directory in (self.staging_dir, self.trash_dir):
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                fd = _lock_if_abandoned(entry)
                if fd is None:
                    continue
                try:
                    log.debug(f"removing leftover {entry}")
                    safe_remove(entry)
                except ArmrootError as exc:
                    log.warn(f"could not remove leftover {entry}: {exc.one_line()}")
                finally:
                    if fd >= 0:
                        os.close(fd)

    # --- locking and removing ----------------------------------------------------------

    @contextlib.contextmanager
    def session_lock(self, env: Env) -> Iterator[int]:
        """A shared lock for a session; waits while a package change holds it exclusively."""
        fd = envlock.open_lock(str(env.path))
        try:
            envlock.shared(fd, env.name, str(env.path))
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive_lock(self, env: Env, purpose: str) -> Iterator[int]:
        fd = envlock.open_lock(str(env.path))
        try:
            envlock.exclusive(fd, env.name, purpose)
            yield fd
        finally:
            os.close(fd)

    def replace_rootfs(self, env: Env, fresh: Path) -> None:
        """Make ``fresh`` (a complete root on the env's filesystem) the env's root: two
        renames, then the old root is deleted from the trash. The caller holds the env's
        exclusive lock."""
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        old = self.trash_dir / f"{env.name}-rootfs.{os.urandom(4).hex()}"
        os.rename(env.rootfs, old)
        os.rename(fresh, env.rootfs)
        safe_remove(old)

    def remove(self, name: str) -> None:
        """Remove the env ``name``, also when its metadata cannot be read (what :meth:`get`
        then says to do)."""
        check_name(name)
        try:
            env = self.get(name)
        except EnvNotFound:
            raise
        except ArmrootError:  # damaged metadata: the directory is the env's all the same
            env = Env(name, self.envs_dir / name, EnvMeta(name, "", "", ""))
        with self.exclusive_lock(env, "remove"):
            refuse_mounts(env.path)
            self.trash_dir.mkdir(parents=True, exist_ok=True)
            doomed = self.trash_dir / f"{name}.{os.urandom(4).hex()}"
            os.rename(env.path, doomed)
        # The lock file moved with the directory; a session that would have started now
        # finds no environment. Delete outside the lock: the env is already gone from view.
        safe_remove(doomed)


def _raise_exists(name: str) -> None:
    raise EnvExists(
        f"an environment named '{name}' already exists",
        f"pick another name, or remove it first with `armroot rm {name}`",
    )


def _create_locked(path: Path) -> int:
    """Create ``path`` already holding an exclusive flock, so no cleaner can take it first.

    The file is made unnamed (O_TMPFILE), locked, then linked into place.
    """
    fd = os.open(path.parent, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        link_fd(fd, str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_if_abandoned(entry: Path) -> int | None:
    """If no live armroot holds ``entry``, an fd holding its lock (-1: it has none); else None.

    A directory without a lock file is abandoned only when older than ABANDONED_AFTER
    (its creator may be between mkdir and taking the lock).
    """
    try:
        fd = os.open(entry / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        try:
            age = time.time() - os.lstat(entry).st_mtime
        except FileNotFoundError:
            return None
        return -1 if age > ABANDONED_AFTER else None
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
