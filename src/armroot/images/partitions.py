"""Read MBR and GPT partition tables. Pure: bytes in, plain data out."""

from __future__ import annotations

import itertools
import struct
import uuid
import zlib
from typing import NamedTuple

from armroot.errors import SourceError

SECTOR = 512
GPT_HEADER = 92  # the GPT header's fields (its CRC32 covers as many bytes as it says, 92 to 512)
GPT_ENTRY = 128  # the smallest GPT entry (entries are 128 * 2^n bytes)
LINUX_GUID = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
ESP_GUID = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
BASIC_DATA_GUID = uuid.UUID("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")
MBR_LINUX = {0x83}
MBR_FAT = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E, 0xEF}
MBR_NAMES = {
    0x83: "Linux",
    0x82: "Linux swap",
    0x05: "extended",
    0x0F: "extended",
    0x07: "NTFS/exFAT",
    0xEE: "GPT protective",
} | {t: "FAT" for t in MBR_FAT}


class Partition(NamedTuple):
    number: int
    start: int  # bytes from the start of the image
    size: int  # bytes
    kind: str  # "linux", "fat" or "other"
    label: str  # the type as a person reads it

    def describe(self) -> str:
        return f"#{self.number} {self.label} ({self.size / 2**20:.0f} MiB at {self.start})"


def _mbr(head: bytes) -> list[Partition]:
    parts: list[Partition] = []
    for i in range(4):
        entry = head[446 + 16 * i : 462 + 16 * i]
        ptype = entry[4]
        lba, sectors = struct.unpack_from("<II", entry, 8)
        if ptype == 0 or sectors == 0:
            continue
        kind = "linux" if ptype in MBR_LINUX else "fat" if ptype in MBR_FAT else "other"
        label = MBR_NAMES.get(ptype, f"type 0x{ptype:02x}")
        parts.append(Partition(i + 1, lba * SECTOR, sectors * SECTOR, kind, label))
    return parts


def _damaged(what: str) -> SourceError:
    return SourceError(f"the image's partition table is damaged: {what}", "download it again")


def _gpt(read: bytes, image_size: int) -> tuple[list[Partition], int]:
    """The GPT's partitions and where its entry array ends (bytes), once its header and
    entry array are whole, well formed and match their CRC32s."""
    header = read[SECTOR : 2 * SECTOR]
    if len(header) < GPT_HEADER or header[:8] != b"EFI PART":
        raise SourceError(
            "the image has a protective MBR but no GPT header", "the partition table is damaged"
        )
    header_size, header_crc = struct.unpack_from("<II", header, 12)
    entries_lba, count, entry_size, entries_crc = struct.unpack_from("<QIII", header, 72)
    if not GPT_HEADER <= header_size <= SECTOR or header_crc != zlib.crc32(
        header[:16] + bytes(4) + header[20:header_size]
    ):
        raise _damaged("the GPT header does not match its checksum")
    if entry_size < GPT_ENTRY or entry_size & (entry_size - 1) or entries_lba < 2:
        raise _damaged(f"the GPT header names {entry_size}-byte entries at sector {entries_lba}")
    start, end = entries_lba * SECTOR, entries_lba * SECTOR + count * entry_size
    if end > image_size:
        raise SourceError(
            "the GPT partition entries lie beyond the end of the image",
            "the image is truncated; download it again",
        )
    if end > len(read):
        raise SourceError(
            f"the GPT partition entries lie beyond the image's first {len(read)} bytes, "
            "where armroot reads them",
            "give an image whose GPT entries follow its header (as partitioning tools write)",
        )
    table = read[start:end]
    if zlib.crc32(table) != entries_crc:
        raise _damaged("the GPT partition entries do not match their checksum")
    parts: list[Partition] = []
    for i in range(count):
        entry = table[i * entry_size : (i + 1) * entry_size]
        type_guid = uuid.UUID(bytes_le=entry[:16])
        if type_guid.int == 0:
            continue
        first, last = struct.unpack_from("<QQ", entry, 32)
        if last < first:
            raise _damaged(f"GPT partition #{i + 1} ends (sector {last}) before it starts")
        name = entry[56:128].decode("utf-16-le", "replace").rstrip("\0")
        if type_guid == LINUX_GUID:
            kind, label = "linux", "Linux filesystem"
        elif type_guid in (ESP_GUID, BASIC_DATA_GUID):
            kind, label = "fat", "EFI system" if type_guid == ESP_GUID else "basic data"
        else:
            kind, label = "other", str(type_guid)
        if name:
            label += f" '{name}'"
        parts.append(Partition(i + 1, first * SECTOR, (last - first + 1) * SECTOR, kind, label))
    return parts, max(end, 2 * SECTOR)


def read_table(head: bytes, image_size: int) -> list[Partition]:
    """The partitions described by ``head`` (the image's first 64 KiB or more): each one
    non-empty, after the partition table and inside the image, none overlapping."""
    if len(head) < SECTOR or head[510:512] != b"\x55\xaa":
        raise SourceError(
            "the image has no MBR or GPT partition table",
            "give a whole-disk image (.img, .img.xz or .zip holding one)",
        )
    mbr = _mbr(head)
    if any(p.label == "GPT protective" for p in mbr):
        parts, table_end = _gpt(head, image_size)
    else:
        parts, table_end = mbr, SECTOR
    for part in parts:
        if part.start < table_end:
            raise _damaged(f"partition {part.describe()} overlaps the partition table")
        if part.start + part.size > image_size:
            raise SourceError(
                f"partition {part.describe()} runs past the end of the image ({image_size} bytes)",
                "the image is truncated; download it again",
            )
    ordered = sorted(parts, key=lambda p: p.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.start + before.size:
            raise _damaged(f"partitions {before.describe()} and {after.describe()} overlap")
    return parts


def choose(parts: list[Partition]) -> tuple[Partition, Partition | None]:
    """The root (largest Linux) partition and the boot (first FAT) partition."""
    linux = [p for p in parts if p.kind == "linux"]
    if not linux:
        found = "; ".join(p.describe() for p in parts) or "none"
        raise SourceError(
            f"the image has no Linux partition (partitions found: {found})",
            "give an image of a Linux system such as Raspberry Pi OS",
        )
    root = max(linux, key=lambda p: p.size)
    fat = [p for p in parts if p.kind == "fat"]
    return root, (fat[0] if fat else None)


EXT_MAGIC_OFFSET = 1024 + 56


def is_ext(superblock_area: bytes) -> bool:
    """True if the bytes from a partition's start hold an ext2/3/4 superblock."""
    return superblock_area[EXT_MAGIC_OFFSET : EXT_MAGIC_OFFSET + 2] == b"\x53\xef"
