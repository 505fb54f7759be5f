"""MBR and GPT partition tables built byte by byte for tests/fuzz/test_fuzz_partitions: a
protective MBR, GPT headers and entry arrays with their CRC32s (sealed, or left wrong on
purpose), and what each layout is expected to read back as."""

from __future__ import annotations

import struct
import uuid
import zlib
from typing import NamedTuple

from armroot.images import partitions
from armroot.images.partitions import SECTOR

HEAD = 1 << 20  # what diskimage.read_partitions reads of an image
U32 = 2**32 - 1
U64 = 2**64 - 1

PROTECTIVE = 0xEE
MBR_KINDS = {0x83: "linux", 0x0C: "fat", 0x0B: "fat", 0x06: "fat", 0xEF: "fat", 0x82: "other"}
MBR_KINDS |= {0x05: "other", 0x0F: "other", 0x07: "other", 0xDA: "other", 0x8E: "other"}
GPT_KINDS = {
    partitions.LINUX_GUID: "linux",
    partitions.ESP_GUID: "fat",
    partitions.BASIC_DATA_GUID: "fat",
    uuid.UUID("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"): "other",  # Linux swap
    uuid.UUID("e6d6d379-f507-44c2-a23c-238f2a3df928"): "other",  # Linux LVM
}


class Expected(NamedTuple):
    number: int
    start: int
    size: int
    kind: str


def nonzero(data: bytes | bytearray) -> dict[int, str]:
    """The runs of ``data`` that are not zeros, by offset (a readable falsifying example)."""
    runs: dict[int, str] = {}
    at = 0
    while (at := next((i for i in range(at, len(data)) if data[i]), -1)) >= 0:
        end = data.find(bytes(8), at)
        end = len(data) if end < 0 else end
        runs[at] = data[at:end].hex()
        at = end
    return runs


class Image(NamedTuple):
    head: bytes  # the image's first bytes (all of it if it is small)
    size: int  # the file's size (past the head: zeros, a sparse file)
    expected: list[Expected]  # what a correct reader returns, for an undamaged image

    def __repr__(self) -> str:
        return f"Image({len(self.head)} bytes {nonzero(self.head)}, size={self.size})"


def mbr_entry(sector: bytearray, slot: int, ptype: int, lba: int, count: int) -> None:
    off = 446 + 16 * slot
    sector[off + 4] = ptype
    struct.pack_into("<II", sector, off + 8, lba, count)


def mbr_sector(entries: list[tuple[int, int, int, int]]) -> bytearray:
    """A boot sector with the 0x55AA signature and (slot, type, first LBA, sectors) entries."""
    sector = bytearray(SECTOR)
    for slot, ptype, lba, count in entries:
        mbr_entry(sector, slot, ptype, lba, count)
    sector[510:512] = b"\x55\xaa"
    return sector


def header_crc(header: bytes | bytearray) -> int:
    size = struct.unpack_from("<I", header, 12)[0]
    return zlib.crc32(header[:16] + bytes(4) + header[20:size])


def seal_header(image: bytearray, at: int) -> None:
    """Write the right CRC32 into the GPT header at byte ``at`` (its size as it says)."""
    header = bytes(image[at : at + SECTOR])
    struct.pack_into("<I", image, at + 16, header_crc(header.ljust(SECTOR, b"\0")))


def seal_entries(image: bytearray, at: int) -> None:
    """Write the CRC32 of the entry array the GPT header at ``at`` names (if it is present)."""
    lba, count, size = struct.unpack_from("<QII", image, at + 72)
    start, end = lba * SECTOR, lba * SECTOR + count * size
    if end <= len(image):
        struct.pack_into("<I", image, at + 88, zlib.crc32(image[start:end]))


class Gpt(NamedTuple):
    image: bytearray
    entries_lba: int
    entries: int
    entry_size: int

    def __repr__(self) -> str:
        return f"Gpt({len(self.image)} bytes {nonzero(self.image)}, ...)"


def gpt_image(
    entries: list[tuple[int, uuid.UUID, int, int, str]],
    disk_sectors: int,
    count: int = 128,
    entry_size: int = 128,
    entries_lba: int = 2,
    backup: bool = False,
) -> Gpt:
    """Protective MBR, primary header at LBA 1, (slot, type, first, last, name) entries at
    ``entries_lba``; with ``backup``, the backup array and header end the (small) image."""
    array = bytearray(count * entry_size)
    for slot, type_guid, first, last, name in entries:
        off = slot * entry_size
        array[off : off + 16] = type_guid.bytes_le
        array[off + 16 : off + 32] = uuid.UUID(int=slot + 1).bytes_le
        struct.pack_into("<QQ", array, off + 32, first, last)
        array[off + 56 : off + 128] = name.encode("utf-16-le")[:72].ljust(72, b"\0")
    array_sectors = -(-len(array) // SECTOR)
    first_usable = entries_lba + array_sectors
    last_usable = max(disk_sectors - 2 - array_sectors, first_usable)
    size = (disk_sectors if backup else entries_lba + array_sectors) * SECTOR
    image = bytearray(max(size, 2 * SECTOR))
    image[:SECTOR] = mbr_sector([(0, PROTECTIVE, 1, min(disk_sectors - 1, U32))])
    image[entries_lba * SECTOR : entries_lba * SECTOR + len(array)] = array
    headers = [(1, disk_sectors - 1, entries_lba)]
    if backup:
        backup_array = disk_sectors - 1 - array_sectors
        image[backup_array * SECTOR : backup_array * SECTOR + len(array)] = array
        headers.append((disk_sectors - 1, 1, backup_array))
    for mine, other, lba in headers:
        at = mine * SECTOR
        struct.pack_into("<8sII", image, at, b"EFI PART", 0x00010000, 92)
        struct.pack_into("<QQQQ", image, at + 24, mine, other, first_usable, last_usable)
        image[at + 56 : at + 72] = uuid.UUID(int=0xA5).bytes_le
        struct.pack_into("<QIII", image, at + 72, lba, count, entry_size, zlib.crc32(array))
        seal_header(image, at)
    return Gpt(image, entries_lba, count, entry_size)
