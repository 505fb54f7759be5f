"""Extract a root filesystem tarball safely, like ``bsdtar -xp``, with libarchive.

Owners, modes, hard links, device nodes, xattrs, ACLs and file capabilities are kept (file
flags are not: an archive's immutable or append-only flag would make the env's files ones
that dpkg cannot replace and `armroot rm` cannot remove); an
env's metadata that `armroot export` put in (``.armroot-env.json``) is read, not extracted. A
member with an absolute path, a ``..`` component, a hard link leaving the root, or a path
that would be written through a symlink is rejected before anything is written for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import libarchive
from libarchive import extract as lax
from libarchive import ffi
from libarchive.exception import ArchiveError

from armroot import log
from armroot.errors import SourceError
from armroot.images.pack import META_MEMBER

FLAGS = (
    lax.EXTRACT_OWNER
    | lax.EXTRACT_PERM
    | lax.EXTRACT_TIME
    | lax.EXTRACT_ACL
    | lax.EXTRACT_XATTR
    | lax.EXTRACT_SECURE_SYMLINKS
    | lax.EXTRACT_SECURE_NODOTDOT
    | lax.EXTRACT_SECURE_NOABSOLUTEPATHS
    | lax.EXTRACT_SPARSE
)


@dataclass
class ExtractReport:
    entries: int = 0
    bytes_written: int = 0
    warnings: list[str] = field(default_factory=list)
    skipped_devices: list[str] = field(default_factory=list)
    meta: bytes | None = None  # an exported env's metadata (pack.META_MEMBER), not extracted


def member_problem(name: str, *, is_hardlink: bool = False, link: str | None = None) -> str | None:
    """Why a member name (or hard link target) is unsafe, or None if it is fine. Pure."""
    if name.startswith("/"):
        return "has an absolute path"
    parts = PurePosixPath(name).parts
    if ".." in parts:
        return "has a '..' component"
    if is_hardlink and link is not None:
        if link.startswith("/"):
            return f"is a hard link to an absolute path ({link})"
        if ".." in PurePosixPath(link).parts:
            return f"is a hard link leaving the root ({link})"
    return None


def normalize(name: str) -> str:
    """Member name without a leading './' and trailing '/'."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") or "."


def through_symlink(name: str, symlinks: set[str]) -> str | None:
    """The earlier symlink member that ``name`` would be written through, if any. Pure."""
    parts = PurePosixPath(name).parts
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix in symlinks:
            return prefix
    return None


def reason(msg: object) -> str:
    """libarchive's error message as text: it comes as bytes when not ASCII (a member's name
    in it), as None when libarchive gives none."""
    if isinstance(msg, bytes):
        return os.fsdecode(msg)
    return "no reason given" if msg is None else str(msg)


class _WarningCollector(logging.Handler):
    def __init__(self, report: ExtractReport) -> None:
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        self.report.warnings.append(reason(record.msg) if not record.args else record.getMessage())


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(path)
        yield
    finally:
        os.fchdir(old)
        os.close(old)


def extract(archive: Path, target: Path, devices: bool = True) -> ExtractReport:
    """Extract ``archive`` into the empty directory ``target``. Without ``devices`` (a
    rootless armroot: mknod is not allowed in a user namespace) device nodes are skipped;
    sessions get theirs from the host's /dev anyway."""
    report = ExtractReport()
    total = archive.stat().st_size
    collector = _WarningCollector(report)
    lib_logger = logging.getLogger("libarchive")
    lib_logger.addHandler(collector)
    lib_logger.propagate = False
    try:
        with archive.open("rb") as stream, log.progress(total_bytes=True) as bar, _cwd(target):
            task = bar.add_task(f"extracting {archive.name}", total=total)
            fd = stream.fileno()
            _extract_fd(
                fd,
                report,
                lambda: bar.update(task, completed=os.lseek(fd, 0, os.SEEK_CUR)),
                devices,
            )
    except ArchiveError as exc:
        why = reason(exc.msg)
        if "through symlink" in why:  # libarchive's own check (a hard link to a symlink...)
            raise SourceError(
                f"{archive} has a member that would be written through a symlink ({why})",
                "it is not a root filesystem armroot can extract safely",
            ) from exc
        raise SourceError(
            f"{archive} is damaged or not an archive libarchive can read ({why})",
            "download it again, or check that the file is a root filesystem tarball",
        ) from exc
    except OSError as exc:
        raise SourceError(
            f"extracting {archive} failed: {exc.strerror or exc}",
            "check free disk space in the armroot store (ARMROOT_HOME)",
        ) from exc
    finally:
        lib_logger.removeHandler(collector)
    for warning in report.warnings[:5]:
        log.warn(f"while extracting: {warning}")
    if len(report.warnings) > 5:
        log.warn(f"... and {len(report.warnings) - 5} more extraction warnings")
    if report.skipped_devices:
        shown = ", ".join(report.skipped_devices[:4])
        more = ", ..." if len(report.skipped_devices) > 4 else ""
        log.info(
            f"    skipped {len(report.skipped_devices)} device nodes ({shown}{more}): "
            "rootless, sessions bind the host's"
        )
    if report.entries == 0:
        raise SourceError(
            f"{archive} contains no files", "check that it is a root filesystem tarball"
        )
    return report


META_LIMIT = 1 << 20  # a metadata member larger than this is an ordinary file

# libarchive reports a failed write as a warning and goes on with the next member; these
# mean every later member fails too (and the root would come out broken).
FATAL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)


def _stop_on_fatal_errno(err: int) -> None:
    if err in FATAL_ERRNOS:
        raise OSError(err, os.strerror(err))


def _extract_fd(fd: int, report: ExtractReport, tick: Callable[[], object], devices: bool) -> None:
    # libarchive reads the fd itself: no Python callback runs inside libarchive, so a signal
    # (SIGTERM -> SystemExit, ^C) unwinds between entries instead of being swallowed there.
    buff, size, offset = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_longlong()
    symlinks: set[str] = set()
    with libarchive.fd_reader(fd) as reader, lax.new_archive_write_disk(FLAGS) as writer:
        for entry in reader:
            # a name that is not UTF-8 comes as bytes: decoded as the file system would
            raw = os.fsdecode(entry.pathname or "")
            name = normalize(raw)
            link = os.fsdecode(entry.linkpath or "") if (entry.islnk or entry.issym) else None
            problem = member_problem(name, is_hardlink=entry.islnk, link=link)
            if problem is None:
                via = through_symlink(name, symlinks)
                if via is not None:
                    problem = f"would be written through the symlink member {via}"
            if problem is None and entry.islnk and link is not None:
                target = normalize(link)
                via = through_symlink(target, symlinks)
                if via is not None:
                    problem = f"is a hard link through the symlink member {via}"
                elif target in symlinks:
                    # a second name of a symlink: what is written to it goes where it points
                    if entry.size:
                        problem = f"is a hard link to the symlink member {target} with data"
                    symlinks.add(name)
            if problem is not None:
                raise SourceError(
                    f"unsafe archive member {raw!r}: it {problem}",
                    "armroot refuses archives that could write outside the root; "
                    "use a root filesystem tarball from a trusted source",
                )
            if (
                name == META_MEMBER
                and entry.isreg
                and entry.size <= META_LIMIT
                and report.meta is None
            ):
                report.meta = b"".join(entry.get_blocks())
                continue
            if entry.issym:
                symlinks.add(name)
            if not devices and (entry.ischr or entry.isblk):
                report.skipped_devices.append(name)
                continue
            warned = len(report.warnings)
            ffi.write_header(writer, entry._entry_p)
            while (
                ffi.read_data_block(
                    entry._archive_p, ctypes.byref(buff), ctypes.byref(size), ctypes.byref(offset)
                )
                != ffi.ARCHIVE_EOF
            ):
                ffi.write_data_block(writer, buff, size, offset)
                if len(report.warnings) > warned:
                    _stop_on_fatal_errno(ffi.errno(writer))
                report.bytes_written += size.value
            ffi.write_finish_entry(writer)
            if len(report.warnings) > warned:
                _stop_on_fatal_errno(ffi.errno(writer))
            report.entries += 1
            if report.entries % 256 == 0:
                tick()
