"""Real tar archives for tests/fuzz, written member by member (GNU, pax or ustar headers
from :mod:`tarfile`) so that sizes can lie and the end can be missing, with gzip, bzip2, xz
or zstd on top: the rootfs tarballs and exported envs of test_fuzz_tarball. Member names
may hold "@TOP" (the absolute path of the directory the test watches) and "@T" (the same
without its leading "/")."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import libarchive

Format = Literal[0, 1, 2]  # tarfile.USTAR_FORMAT, GNU_FORMAT, PAX_FORMAT
FORMATS: tuple[Format, ...] = (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT)
TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
}
# Device numbers nothing on this machine answers to, or /dev/null, /dev/zero, /dev/full:
# harmless even if something did open the node.
DEVICES = {"chr": [(1, 3), (1, 5), (1, 7)], "blk": [(0, 0), (0, 7)]}
NUL = b"\0"


class Member(NamedTuple):
    kind: str  # a key of TYPES
    name: str  # "@TOP" is TOP's absolute path, "@T" the same without the leading "/"
    link: str = ""
    data: bytes = b""
    mode: int = 0o644
    owner: int = 0
    size: int | None = None  # the size the header declares, when not len(data)
    pax: tuple[tuple[str, str], ...] = ()  # extra pax keywords (pax format only)
    sparse: tuple[tuple[int, int], ...] | None = None  # (offset, length) chunks of a file
    realsize: int = 0  # a sparse file's size


class Archive(NamedTuple):
    members: tuple[Member, ...]
    fmt: Format = tarfile.GNU_FORMAT
    compression: str = "none"
    end: bool = True  # the two zero blocks that end a tar archive
    cut: int | None = None  # keep only this many bytes of the (compressed) archive

    def build(self, top: Path) -> bytes:
        raw = bytearray()
        for member in self.members:
            raw += _member_bytes(member, self.fmt, top)
        if self.end:
            raw += NUL * 1024
        data = _compress(bytes(raw), self.compression)
        return data if self.cut is None else data[: self.cut]


def fill(text: str, top: Path) -> str:
    return text.replace("@TOP", str(top)).replace("@T", str(top).lstrip("/"))


def _number(value: int, digits: int) -> bytes:
    """A tar header number field: octal, or GNU's base-256 when it does not fit."""
    if 0 <= value < 1 << 3 * (digits - 1):
        return b"%0*o" % (digits - 1, value) + NUL
    return bytes([0x80]) + (value % (1 << 8 * (digits - 1))).to_bytes(digits - 1, "big")


def _gnu_sparse(header: bytes, chunks: Sequence[tuple[int, int]], realsize: int) -> bytes:
    """``header`` (a GNU 'S' member) with its sparse map and real size filled in."""
    block = bytearray(header[-512:])
    for i, (offset, length) in enumerate(chunks[:4]):
        block[386 + 24 * i : 398 + 24 * i] = _number(offset, 12)
        block[398 + 24 * i : 410 + 24 * i] = _number(length, 12)
    block[483:495] = _number(realsize, 12)
    block[148:156] = b" " * 8
    block[148:155] = b"%06o" % sum(block) + NUL
    return header[:-512] + bytes(block)


def _member_bytes(member: Member, fmt: Format, top: Path) -> bytes:
    info = tarfile.TarInfo(fill(member.name, top))
    info.type = TYPES[member.kind]
    if member.kind in ("symlink", "hardlink"):
        info.linkname = fill(member.link, top)
    info.mode, info.uid, info.gid, info.mtime = member.mode, member.owner, member.owner, 1
    if member.kind in DEVICES:
        info.devmajor, info.devminor = DEVICES[member.kind][member.owner % 2]
    data = member.data if member.kind in ("file", "hardlink") else b""
    pax = {key: fill(value, top) for key, value in member.pax}
    if member.kind == "hardlink" and data:  # only a pax member (one with an 'x' header) can
        if fmt == tarfile.PAX_FORMAT:  # give a hard link data: others' size is ignored
            pax.setdefault("comment", "a hard link with data")
        else:
            data = b""
    sparse = member.sparse if member.kind == "file" and fmt != tarfile.USTAR_FORMAT else None
    if sparse is not None:
        stored = sum(length for _, length in sparse)
        data = b"\1" * min(stored, 8192)  # a declared length beyond that: a truncated member
        if fmt == tarfile.GNU_FORMAT:
            info.type = tarfile.GNUTYPE_SPARSE
            info.size = stored
        else:  # pax 1.0: the map in front of the data
            pax.update(
                {
                    "GNU.sparse.major": "1",
                    "GNU.sparse.minor": "0",
                    "GNU.sparse.name": info.name,
                    "GNU.sparse.realsize": str(member.realsize),
                }
            )
            info.name = "GNUSparseFile.0/s"
            lines = [str(len(sparse))] + [f"{o}\n{n}" for o, n in sparse]
            head = ("\n".join(lines) + "\n").encode()
            head += NUL * (-len(head) % 512)
            data = head + data
            info.size = len(head) + stored
    else:
        info.size = len(data)
    if member.size is not None:
        info.size = member.size
    info.pax_headers = pax
    try:
        header = info.tobuf(fmt, "utf-8", "surrogateescape")
    except ValueError:
        return b""  # this format cannot hold it (ustar: a long name, a big number)
    if sparse is not None and fmt == tarfile.GNU_FORMAT:
        header = _gnu_sparse(header, sparse, member.realsize)
    return header + data + NUL * (-len(data) % 512)


def _compress(raw: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(raw, compresslevel=1, mtime=0)
    if how == "bzip2":
        return bz2.compress(raw, 1)
    if how == "xz":
        return lzma.compress(raw, preset=0)
    if how == "zstd":
        out = bytearray()

        def take(chunk: bytes) -> int:
            out.extend(chunk)
            return len(chunk)

        with libarchive.custom_writer(take, "raw", filter_name="zstd") as writer:
            writer.add_file_from_memory("data", len(raw), raw)
        return bytes(out)
    return raw


def tar(*members: Member, fmt: Format = tarfile.GNU_FORMAT) -> Archive:
    return Archive(tuple(members), fmt)
