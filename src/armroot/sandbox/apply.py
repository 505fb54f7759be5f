"""Apply mount operations inside a private mount namespace. Runs only in the session's child.
Light (see :mod:`armroot.session`).

This and :mod:`armroot.sandbox.session` are the only code that calls mount(2) or chroot(2),
and they only ever run after unshare(CLONE_NEWNS) with the host's mounts made slave, so
nothing mounted here can appear on the host.
"""

from __future__ import annotations

import errno
import os
import stat

from armroot.errors import ArmrootError
from armroot.host import syscalls as sc
from armroot.rootfs.paths import is_within, resolve_in_root_str
from armroot.sandbox.ops import Bind, Binfmt, Devpts, File, MountOp, Proc, Symlink, Sysfs, Tmpfs


class SetupError(Exception):
    """A mount operation failed; the message names the operation and the path."""


def isolate_from_host() -> None:
    """Make every mount in this namespace a slave: host changes come in, ours never go out."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)


def make_root_mount(root: str) -> None:
    """Bind the root onto itself so it is a mount point of its own in this namespace."""
    sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)


def make_ephemeral_root(root: str, scratch: str) -> str:
    """An overlay of ``root`` with a tmpfs upper layer at ``scratch``; returns its mount point.

    The lower layer (the env's root) is never written: changes go to the tmpfs, which the
    kernel drops with the session's mount namespace.
    """
    sc.mount("tmpfs", scratch, "tmpfs", sc.MS_NOSUID, "mode=755")
    upper, work, merged = (os.path.join(scratch, sub) for sub in ("upper", "work", "merged"))
    for sub in (upper, work, merged):
        os.mkdir(sub, 0o755)
    os.chmod(upper, stat.S_IMODE(os.stat(root).st_mode))
    # Layers named through /proc/self/fd, so commas or colons in store paths cannot confuse
    # overlayfs's option parser.
    fds = [os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for p in (root, upper, work)]
    try:
        layers = [f"/proc/self/fd/{fd}" for fd in fds]
        options = f"lowerdir={layers[0]},upperdir={layers[1]},workdir={layers[2]}"
        sc.mount("overlay", merged, "overlay", 0, options)
    finally:
        for fd in fds:
            os.close(fd)
    return merged


def _target(root: str, inside: str) -> str:
    resolved = resolve_in_root_str(root, inside)
    if not is_within(root, resolved):  # resolve_in_root guarantees this; keep the check.
        raise SetupError(f"mount target {inside} resolves outside the root")
    return resolved


def _ensure_dir(root: str, path: str) -> None:
    """mkdir -p ``path`` (resolved inside ``root``: no component was a symlink), each
    component checked to be a real directory."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            return  # the usual case: there already
    except FileNotFoundError:
        pass
    rel = os.path.relpath(path, root)
    current = root
    for part in rel.split("/") if rel != "." else ():
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            try:
                os.mkdir(current, 0o755)
                continue
            except FileExistsError:  # a session beside this one made it a moment ago
                st = os.lstat(current)
        if stat.S_ISLNK(st.st_mode):
            raise SetupError(f"{current} is a symlink where a directory is needed")
        if not stat.S_ISDIR(st.st_mode):
            raise SetupError(f"{current} is a file where a directory is needed")


def _ensure_mount_point(root: str, path: str, directory: bool) -> None:
    _ensure_dir(root, os.path.dirname(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            if directory:
                os.mkdir(path, 0o755)
            else:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                os.close(fd)
            return
        except FileExistsError:
            # Two sessions starting at once in one env both create a new mount point (the
            # same --bind target): the one that comes second checks what the first made.
            st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise SetupError(f"{path} is a symlink; refusing to mount over it")
    if directory and not stat.S_ISDIR(st.st_mode):
        raise SetupError(f"{path} is a file where a directory mount point is needed")
    if not directory and stat.S_ISDIR(st.st_mode):
        raise SetupError(f"{path} is a directory where a file mount point is needed")


def _mount_on(
    path: str, source: str | None, fstype: str | None, flags: int, data: str | None
) -> None:
    """mount(2) onto ``path`` opened with O_PATH|O_NOFOLLOW, so no symlink swap can redirect it."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        sc.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    finally:
        os.close(fd)


def _remount_readonly(path: str) -> None:
    st = os.statvfs(path)
    keep = 0
    for flag_vfs, flag_ms in (
        (os.ST_NOSUID, sc.MS_NOSUID),
        (os.ST_NODEV, sc.MS_NODEV),
        (os.ST_NOEXEC, sc.MS_NOEXEC),
    ):
        if st.f_flag & flag_vfs:
            keep |= flag_ms
    _mount_on(path, None, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep, None)


def _apply_bind(root: str, op: Bind) -> None:
    source = op.source
    try:
        is_dir = stat.S_ISDIR(os.stat(source).st_mode)
    except OSError as exc:
        raise SetupError(f"bind source {op.source} does not exist on the host") from exc
    target = _target(root, op.target)
    if op.only_if_target_exists and not os.path.lexists(target):
        return
    _ensure_mount_point(root, target, directory=is_dir)
    flags = sc.MS_BIND | (sc.MS_REC if op.recursive else 0)
    _mount_on(target, source, None, flags, None)
    if op.readonly:
        _remount_readonly(target)


SESSION_TMPFS = ("/run/", "/tmp/")


def _write_file(root: str, op: File) -> None:
    if not op.target.startswith(SESSION_TMPFS):
        raise SetupError(f"{op.target}: files are written only under {', '.join(SESSION_TMPFS)}")
    target = _target(root, op.target)
    _ensure_dir(root, os.path.dirname(target))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, op.mode)
    try:
        data = memoryview(op.content.encode())
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def _apply(root: str, op: MountOp) -> None:
    if isinstance(op, Bind):
        _apply_bind(root, op)
        return
    if isinstance(op, Symlink):
        target = _target(root, op.target)
        if os.path.lexists(target):
            if op.only_if_absent:
                return
            raise SetupError(f"{op.target} already exists in the root")
        _ensure_dir(root, os.path.dirname(target))
        try:
            os.symlink(op.link_to, target)
        except FileExistsError:
            # Two first sessions in one env both found it absent (a link the root lacks,
            # such as /etc/mtab): the one that comes second finds the other's.
            if not op.only_if_absent:
                raise SetupError(f"{op.target} already exists in the root") from None
        return
    if isinstance(op, File):
        _write_file(root, op)
        return
    if isinstance(op, Binfmt):
        _binfmt(root, op)
        return
    target = _target(root, op.target)
    _ensure_mount_point(root, target, directory=True)
    if isinstance(op, Tmpfs):
        flags = sc.MS_NOSUID | (sc.MS_NODEV if op.nodev else 0) | (sc.MS_NOEXEC if op.noexec else 0)
        data = f"mode={op.mode:o}" + (f",{op.options}" if op.options else "")
        _mount_on(target, "tmpfs", "tmpfs", flags, data)
    elif isinstance(op, Proc):
        _mount_on(target, "proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, None)
    elif isinstance(op, Sysfs):
        flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_RDONLY
        try:
            _mount_on(target, "sysfs", "sysfs", flags, None)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EACCES):
                raise
            _mount_on(target, "/sys", None, sc.MS_BIND | sc.MS_REC, None)
            _remount_readonly(target)
    elif isinstance(op, Devpts):
        _mount_on(
            target,
            "devpts",
            "devpts",
            sc.MS_NOSUID | sc.MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=620",
        )


def _binfmt(root: str, op: Binfmt) -> None:
    """Mount the user namespace's own binfmt_misc and register ``op``'s handlers. Each
    interpreter is named by its host path (resolved inside the root) and opened by the
    kernel at registration (flag F), so it serves the session after chroot too."""
    target = _target(root, op.target)
    _ensure_mount_point(root, target, directory=True)
    try:
        _mount_on(
            target, "binfmt_misc", "binfmt_misc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, None
        )
    except OSError as exc:
        raise SetupError(
            f"this kernel gives the session no binfmt_misc of its own ({exc.strerror}; "
            "Linux 6.7 or later does)"
        ) from exc
    for name, magic, mask, interpreter, flags in op.entries:
        if "F" not in flags:
            raise SetupError(f"binfmt handler {name}: flag F is required inside a session")
        host_path = _target(root, interpreter)
        escape = "".join(f"\\x{magic[i : i + 2]}" for i in range(0, len(magic), 2))
        escape_mask = "".join(f"\\x{mask[i : i + 2]}" for i in range(0, len(mask), 2))
        line = f":{name}:M::{escape}:{escape_mask}:{host_path}:{flags}"
        fd = os.open(os.path.join(target, "register"), os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def own_binfmt_over(path: str) -> None:
    """Mount this user namespace's own binfmt_misc on ``path`` (in this mount namespace);
    SetupError, with nothing left mounted, unless it is a fresh, empty instance (Linux >=
    6.7 gives a user namespace one; in the host's namespace it would be the host's)."""
    try:
        _mount_on(
            path, "binfmt_misc", "binfmt_misc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, None
        )
    except OSError as exc:
        raise SetupError(f"no binfmt_misc of this namespace's own ({exc.strerror})") from exc
    if set(os.listdir(path)) - {"register", "status"}:
        sc.umount(path, sc.MNT_DETACH)
        raise SetupError("the binfmt_misc mounted has handlers already: not this namespace's own")


def detach(path: str) -> None:
    """Detach the mount on ``path`` and every mount under it (umount2 MNT_DETACH)."""
    sc.umount(path, sc.MNT_DETACH)


def describe(op: MountOp) -> str:
    if isinstance(op, Bind):
        return f"bind {op.source} -> {op.target}"
    if isinstance(op, Symlink):
        return f"symlink {op.target} -> {op.link_to}"
    if isinstance(op, File):
        return f"file {op.target} ({len(op.content)} bytes)"
    return f"{type(op).__name__.lower()} {op.target}"


def apply_all(root: str, ops: tuple[MountOp, ...]) -> list[str]:
    """Apply ``ops`` in order; returns warnings for optional ops that could not be applied."""
    warnings: list[str] = []
    for op in ops:
        try:
            try:
                _apply(root, op)
            except OSError as exc:
                raise SetupError(f"{describe(op)}: {exc.strerror or exc}") from exc
            except ArmrootError as exc:
                raise SetupError(f"{describe(op)}: {exc.message}") from exc
        except SetupError as exc:
            if isinstance(op, Bind) and op.optional:
                warnings.append(f"skipped {describe(op)}: {exc}")
                continue
            raise
    return warnings
