"""Turn a Raspberry-Pi-style disk image (.img, .img.xz, .zip) into a root directory.

Nothing is mounted on the host and no loop device is used: the ext4 root partition is read
with fuse2fs inside a private mount and PID namespace (``unshare``), copied out with
``cp -a`` (owners, modes, hard links, device nodes, xattrs; rootless, inside armroot's
user namespace, without device nodes), and the FAT boot partition is
copied with mtools to where the image's own /etc/fstab mounts it.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shlex
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from armroot import log
from armroot.errors import HostError, SourceError
from armroot.host import programs
from armroot.images import partitions
from armroot.images.partitions import Partition
from armroot.rootfs.paths import resolve_in_root
from armroot.store.tree import safe_remove

T = TypeVar("T")
CHUNK = 1 << 20
FSTAB_MAX = 1 << 20  # what is read of the root's /etc/fstab (a sparse one can be terabytes)


class ImageMismatch(SourceError):
    """The image is not the one the publisher's index names."""


def prepare(source: Path, work: Path, extract_sha256: str = "") -> Path:
    """A plain .img for ``source``: itself, or decompressed/unzipped into ``work``; given
    ``extract_sha256`` (what the publisher's index says the image itself hashes to), an
    image that does not have it is refused."""
    check_fuse()
    digest = hashlib.sha256()
    if source.name.endswith(".img"):
        target = source
        if extract_sha256:
            with source.open("rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
    else:
        target = work / "disk.img"
        if source.name.endswith(".xz"):
            _unxz(source, target, digest)
        else:
            _unzip(source, target, digest)
    if extract_sha256 and digest.hexdigest() != extract_sha256:
        raise ImageMismatch(
            f"the image inside {source.name} is not the one the publisher's index names "
            f"(sha256 {digest.hexdigest()}, expected {extract_sha256})",
            "nothing was made or kept; try again, and if it fails again the mirror serves an "
            "altered image",
        )
    return target


def _unxz(source: Path, target: Path, digest: hashlib._Hash) -> None:
    total = source.stat().st_size
    try:
        with (
            source.open("rb") as raw,
            lzma.open(raw) as xz,
            target.open("wb") as out,
            log.progress(total_bytes=True) as bar,
        ):
            task = bar.add_task(f"decompressing {source.name}", total=total)
            while chunk := xz.read(CHUNK):
                digest.update(chunk)
                if chunk.count(0) == len(chunk):
                    out.seek(len(chunk), os.SEEK_CUR)  # keep zeros sparse
                else:
                    out.write(chunk)
                bar.update(task, completed=raw.tell())
            out.truncate()
    except (lzma.LZMAError, EOFError) as exc:
        raise SourceError(
            f"{source.name} is damaged: the xz stream is corrupt ({exc})", "download it again"
        ) from exc


def _unzip(source: Path, target: Path, digest: hashlib._Hash) -> None:
    try:
        with zipfile.ZipFile(source) as archive:
            images = [i for i in archive.infolist() if i.filename.endswith(".img")]
            if len(images) != 1:
                names = ", ".join(i.filename for i in archive.infolist()[:5]) or "nothing"
                raise SourceError(
                    f"{source.name} should hold one .img file, it holds {names}",
                    "give the .img (or a .zip with exactly one)",
                )
            if images[0].flag_bits & 0x1:
                raise SourceError(
                    f"{source.name} holds {images[0].filename} encrypted",
                    "give the .img (or a .zip holding it unencrypted)",
                )
            member = _zip_read(lambda: archive.open(images[0]))
            with member, target.open("wb") as out:
                while chunk := _zip_read(lambda: member.read(CHUNK)):
                    digest.update(chunk)
                    out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError) as exc:
        raise SourceError(
            f"{source.name} is not a readable zip ({exc})", "download it again"
        ) from exc


def _zip_read(read: Callable[[], T]) -> T:
    """``read()``, opening or reading a zip's member: an OSError there (bz2's "Invalid data
    stream", a seek before the file's start, the disk's) is the zip's damage."""
    try:
        return read()
    except OSError as exc:
        raise zipfile.BadZipFile(exc.strerror or str(exc)) from exc


def read_partitions(image: Path) -> tuple[Partition, Partition | None]:
    size = image.stat().st_size
    with image.open("rb") as f:
        head = f.read(1 << 20)
        parts = partitions.read_table(head, size)
        root, boot = partitions.choose(parts)
        f.seek(root.start)
        if not partitions.is_ext(f.read(4096)):
            raise SourceError(
                f"the Linux partition {root.describe()} does not hold an ext2/3/4 filesystem",
                "armroot reads ext4 root partitions (as Raspberry Pi OS uses)",
            )
    return root, boot


SPECIAL = "cannot create special file"  # cp's message for a device node it may not make
NOT_MOUNTED = 90


def check_fuse() -> None:
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        raise HostError(
            f"/dev/fuse cannot be opened ({exc.strerror}): armroot reads disk images with fuse2fs",
            "make it usable: `sudo chmod 0666 /dev/fuse` (the udev default on Debian, Fedora "
            "and Arch), or create this env with sudo",
        ) from exc


def extract(image: Path, rootfs: Path, work: Path, devices: bool = True) -> None:
    """Copy the image's root (and boot) partition into the empty directory ``rootfs``.
    Without ``devices`` (rootless: mknod is not allowed in a user namespace) device nodes
    are left out."""
    root, boot = read_partitions(image)
    what = f"the root partition ({root.size / 2**20:.0f} MiB)"
    copy_filesystem(image, root.start, rootfs, work, devices, what)
    if boot is not None:
        target = boot_dir(rootfs)
        with log.step(f"Copying the boot partition to {target}"):
            _copy_fat(image, boot, boot_target(rootfs, target))


def copy_filesystem(
    image: Path, offset: int, target: Path, work: Path, devices: bool, what: str
) -> None:
    """Copy the ext2/3/4 filesystem at ``offset`` in ``image`` into the empty ``target``:
    fuse2fs mounts it in a private mount and PID namespace (never on the host), cp -a."""
    mount_point = work / "mnt"
    mount_point.mkdir()
    mnt = shlex.quote(str(mount_point))
    script = (
        f"fuse2fs {shlex.quote(str(image))} {mnt} -o ro,fakeroot,offset={offset} "
        f">/dev/null && mountpoint -q {mnt} || "
        f"{{ echo 'fuse2fs could not mount {what}' >&2; exit {NOT_MOUNTED}; }}; "
        f"exec cp -a {mnt}/. {shlex.quote(str(target))}/"
    )
    programs.require_program("fuse2fs")  # /dev/fuse was checked by the caller
    lines: list[str] = []
    with log.step(f"Copying {what}"):
        argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork"]
        proc = programs.run(
            [*argv, "--kill-child", "sh", "-c", script],
            check=False,
            on_line=lines.append,
        )
    skipped = [line for line in lines if SPECIAL in line] if not devices else []
    problems = [line for line in lines if line.strip() and line not in skipped]
    if proc.returncode == NOT_MOUNTED or (proc.returncode != 0 and (problems or not skipped)):
        raise SourceError(
            f"copying {what} of {image.name} failed: "
            + (problems[0] if problems else programs.describe_status(proc.returncode)),
            "check that the image is whole (its checksum) and that fuse2fs works here",
        )
    if skipped:
        log.info(f"    skipped {len(skipped)} device nodes: rootless, sessions bind the host's")


def boot_dir(rootfs: Path) -> str:
    """Where the root's /etc/fstab mounts its FAT boot partition (/boot/firmware or /boot).
    The fstab is read as fstab(5) says and libmount does: an entry a line (a carriage return
    ending it dropped), fields separated by spaces or tabs (not any Unicode space)."""
    for line in _fstab(rootfs).split("\n"):
        fields = [f for f in line.removesuffix("\r").replace("\t", " ").split(" ") if f]
        if (
            len(fields) >= 3
            and not fields[0].startswith("#")
            and fields[2] == "vfat"
            and fields[1] in ("/boot", "/boot/firmware")
        ):
            return fields[1]
    try:
        firmware = resolve_in_root(rootfs, "/boot/firmware").is_dir()
    except OSError:  # /boot is not a directory
        firmware = False
    return "/boot/firmware" if firmware else "/boot"


def _fstab(rootfs: Path) -> str:
    """The start of the root's own /etc/fstab ("" if it has none it can read)."""
    try:
        fstab = resolve_in_root(rootfs, "/etc/fstab")
        if not fstab.is_file():
            return ""
        with fstab.open("rb") as f:
            return f.read(FSTAB_MAX).decode("utf-8", "replace")
    except OSError:  # /etc is not a directory, the fstab is unreadable
        return ""


def boot_target(rootfs: Path, where: str) -> Path:
    """The empty directory inside ``rootfs`` that the boot partition's files are copied into,
    where the root's system sees ``where``. What the root holds there is removed first (the
    boot partition is mounted over it on the image's system): mcopy follows the symlinks it
    finds, and an image's ``/boot/firmware/config.txt -> /etc/shadow`` would overwrite the
    host's."""
    try:
        target = resolve_in_root(rootfs, where)
        if target == rootfs:
            raise SourceError(
                f"the image's {where} is its root directory (a symlink to /)",
                "armroot copies the boot partition to where the root's /etc/fstab mounts it",
            )
        safe_remove(target)  # a directory or anything else; never across a mount
        target.mkdir(parents=True)
    except OSError as exc:
        raise SourceError(
            f"the image's {where} cannot be made a directory for the boot partition "
            f"({exc.strerror or exc})",
            "the root partition's tree is damaged",
        ) from exc
    return target


def _copy_fat(image: Path, boot: Partition, target: Path) -> None:
    programs.require_program("mcopy")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    source = f"{image}@@{boot.start}"
    listing = programs.run(["mdir", "-b", "-i", source, "::/"], capture=True, env=env)
    names = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
    if names:
        programs.run(["mcopy", "-s", "-p", "-n", "-i", source, *names, str(target)], env=env)
