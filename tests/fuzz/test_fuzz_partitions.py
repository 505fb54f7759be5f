"""Disk images' partition tables (images.partitions, images.diskimage.read_partitions): a
downloaded Raspberry-Pi-style image is untrusted. Its MBR or GPT says where the root and boot
partitions lie; read from an image file, the root must be a Linux partition inside the file
holding an ext superblock, the boot one a FAT partition.

Images are built (tests/fuzz/partition_tables.py: a protective MBR, GPT headers and entry
arrays with their CRC32s), then damaged here: entries rewritten, checksums kept right or
left wrong, files cut short.

What is read from the image's root (/etc/fstab, the boot directory) is tested in
test_fuzz_image_root, the .zip and .xz containers in test_fuzz_image_files.
"""

from __future__ import annotations

import itertools
import struct
import tempfile
import uuid
import zlib
from pathlib import Path
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from armroot.images import diskimage, partitions
from armroot.images.partitions import SECTOR, Partition
from tests.fuzz.images import bounded
from tests.fuzz.partition_tables import (
    GPT_KINDS,
    HEAD,
    MBR_KINDS,
    PROTECTIVE,
    U32,
    U64,
    Expected,
    Gpt,
    Image,
    gpt_image,
    header_crc,
    mbr_entry,
    mbr_sector,
    seal_entries,
    seal_header,
)
from tests.fuzz.properties import outcome

# The tables themselves are built in tests/fuzz/partition_tables.py.

# --- what a correct reader accepts, stated independently ------------------------------------


def mbr_entries(head: bytes) -> list[tuple[int, int, int, int]]:
    """The primary MBR entries in use: (number, type, first LBA, sectors)."""
    found = []
    for slot in range(4):
        off = 446 + 16 * slot
        lba, count = struct.unpack_from("<II", head, off + 8)
        if head[off + 4] and count:
            found.append((slot + 1, head[off + 4], lba, count))
    return found


def sealed_gpt(head: bytes, size: int) -> list[tuple[int, int, int]] | None:
    """(number, first LBA, last LBA) of the used entries of the GPT at LBA 1, if its header
    and entry array are whole, well formed and their CRC32s match; else None."""
    header = head[SECTOR : 2 * SECTOR]
    if len(header) < 92 or header[:8] != b"EFI PART":
        return None
    header_size, crc = struct.unpack_from("<II", header, 12)
    if not 92 <= header_size <= SECTOR or header_crc(header) != crc:
        return None
    lba, count, entry_size, array_crc = struct.unpack_from("<QIII", header, 72)
    start, end = lba * SECTOR, lba * SECTOR + count * entry_size
    if entry_size < 128 or entry_size & (entry_size - 1) or lba < 2 or end > min(size, len(head)):
        return None
    if zlib.crc32(head[start:end]) != array_crc:
        return None
    used = []
    for i in range(count):
        off = start + i * entry_size
        if any(head[off : off + 16]):
            first, last = struct.unpack_from("<QQ", head, off + 32)
            used.append((i + 1, first, last))
    return used


def check_partitions(head: bytes, size: int, got: list[Partition]) -> None:
    """What every table armroot accepts satisfies: each partition non-empty, after the table,
    inside the file; none overlap; exactly the table's entries, none dropped or invented; and a
    GPT is used only if its checksums match."""
    for part in got:
        assert part.size > 0, part
        assert part.start >= SECTOR, f"{part} covers the MBR"
        assert part.start + part.size <= size, f"{part} is past the end ({size})"
        assert part.kind in ("linux", "fat", "other")
    ordered = sorted(got, key=lambda p: p.start)
    for before, after in itertools.pairwise(ordered):
        assert before.start + before.size <= after.start, f"{before} overlaps {after}"
    mbr = mbr_entries(head)
    if any(ptype == PROTECTIVE for _, ptype, _, _ in mbr):
        table = sealed_gpt(head, size)
        assert table is not None, "a GPT whose checksums do not match was used"
        spans = [(n, first * SECTOR, (last - first + 1) * SECTOR) for n, first, last in table]
        lba, count, entry_size = struct.unpack_from("<QII", head, SECTOR + 72)
        table_end = max(lba * SECTOR + count * entry_size, 2 * SECTOR)
        assert all(p.start >= table_end for p in got), "a partition covers the GPT"
    else:
        spans = [(n, lba * SECTOR, count * SECTOR) for n, _, lba, count in mbr]
    assert [(p.number, p.start, p.size) for p in got] == spans


def read(image: Image) -> list[Partition] | str:
    return bounded(lambda: partitions.read_table(image.head, image.size))


# --- strategies: valid layouts ------------------------------------------------------------

EDGE_SECTORS = st.sampled_from([1, 2, 7, 8, 2047, 2048, 8192, 2**20, 2**31, U32])
SECTORS = st.one_of(st.integers(1, 4096), EDGE_SECTORS)
GAP = st.one_of(st.just(0), st.integers(0, 4096), EDGE_SECTORS)
NAME = st.one_of(
    st.sampled_from(["", "boot", "root", "rootfs", "EFI system partition"]),
    st.text(max_size=36),
)


@st.composite
def mbr_images(draw: st.DrawFn) -> Image:
    """An MBR with up to four disjoint primary partitions (extended ones with an EBR chain
    inside, which armroot does not follow) in any slots."""
    lba = draw(st.integers(1, 8192))
    slots = draw(st.permutations(range(4)))
    found: list[tuple[int, int, int, int]] = []
    for slot in slots[: draw(st.integers(0, 4))]:
        lba += draw(GAP)
        count = draw(SECTORS)
        if lba > U32 or count > U32 - lba:
            break
        found.append((slot, draw(st.sampled_from(sorted(MBR_KINDS))), lba, count))
        lba += count
    end = max([lba + count for _, _, lba, count in found] or [1])
    size = end * SECTOR + draw(st.sampled_from([0, 0, 1, 511, 4096]))
    head = bytearray(min(size, 64 << 10))
    head[:SECTOR] = mbr_sector(found)
    for _, ptype, lba, count in found:
        if ptype in (0x05, 0x0F) and (lba + 1) * SECTOR <= len(head):
            # an EBR: a logical Linux partition, then a link back to itself (a loop)
            ebr = mbr_sector([(0, 0x83, 1, max(count - 1, 1)), (1, 0x05, 0, count)])
            head[lba * SECTOR : (lba + 1) * SECTOR] = ebr
    expected = [
        Expected(slot + 1, lba * SECTOR, count * SECTOR, MBR_KINDS[ptype])
        for slot, ptype, lba, count in sorted(found)
    ]
    return Image(bytes(head), size, expected)


class GptLayout(NamedTuple):
    gpt: Gpt
    size: int
    expected: list[Expected]


@st.composite
def gpt_layouts(draw: st.DrawFn, small: bool = False) -> GptLayout:
    """A GPT with disjoint partitions in any entry slots, LBAs up to 2^64 unless ``small``
    (an image of at most 1 MiB, whole in memory, with its backup GPT at its end)."""
    count = draw(st.sampled_from([128, 128, 4, 1, 16, 256]))
    entry_size = draw(st.sampled_from([128, 128, 256, 512]))
    entries_lba = draw(st.sampled_from([2, 2, 3, 34, 100]))
    array_sectors = -(-count * entry_size // SECTOR)
    lba = entries_lba + array_sectors
    slots = draw(st.permutations(range(min(count, 8))))
    gap = st.integers(0, 64) if small else st.one_of(GAP, st.integers(0, 2**62))
    length = st.integers(1, 64) if small else st.one_of(SECTORS, st.integers(1, 2**63))
    found: list[tuple[int, uuid.UUID, int, int, str]] = []
    for slot in slots[: draw(st.integers(0, len(slots)))]:
        first = lba + draw(gap)
        last = first + draw(length) - 1
        if last > U64 - array_sectors - 16:
            break
        found.append((slot, draw(st.sampled_from(list(GPT_KINDS))), first, last, draw(NAME)))
        lba = last + 1
    disk_sectors = lba + array_sectors + 1 + draw(st.integers(0, 8))
    if small and disk_sectors * SECTOR > HEAD:
        found, disk_sectors = [], lba + array_sectors + 1
    gpt = gpt_image(found, disk_sectors, count, entry_size, entries_lba, backup=small)
    expected = [
        Expected(slot + 1, first * SECTOR, (last - first + 1) * SECTOR, GPT_KINDS[type_guid])
        for slot, type_guid, first, last, _ in sorted(found, key=lambda f: f[0])
    ]
    return GptLayout(gpt, disk_sectors * SECTOR, expected)


GPT_IMAGES = st.one_of(gpt_layouts(), gpt_layouts(small=True)).map(
    lambda g: Image(bytes(g.gpt.image[:HEAD]), g.size, g.expected)
)
VALID = st.one_of(mbr_images(), GPT_IMAGES)


# --- strategies: damage --------------------------------------------------------------------

EDGE32 = st.one_of(st.integers(0, U32), st.sampled_from([0, 1, 2, 33, 34, 127, 128, 129, U32]))
EDGE64 = st.one_of(
    st.integers(0, U64),
    st.integers(0, 4096),
    st.sampled_from([0, 1, 2, 33, 34, 2**32, 2**55, 2**63 - 1, 2**63, U64 - 1, U64]),
)
# GPT header fields: (offset, struct format)
HEADER_FIELDS = [(12, "<I"), (24, "<Q"), (32, "<Q"), (40, "<Q"), (48, "<Q"), (72, "<Q")]
HEADER_FIELDS += [(80, "<I"), (84, "<I"), (88, "<I")]


@st.composite
def damaged(draw: st.DrawFn) -> Image:
    """A valid image with a few things changed: MBR entries, GPT header fields and entries
    (with their CRCs recomputed, or not), bytes flipped, the primary GPT wiped (only the
    backup left), the signature, the file's size."""
    base = draw(VALID)
    head = bytearray(base.head)
    size = base.size
    for _ in range(draw(st.integers(1, 4))):
        what = draw(
            st.sampled_from(["mbr", "header", "entry", "flip", "wipe", "signature", "size"])
        )
        reseal = draw(st.booleans())
        if what == "mbr":
            slot, ptype = draw(st.integers(0, 3)), draw(st.sampled_from([0, 0x83, 0x0C, 0xEE]))
            mbr_entry(head, slot, ptype, draw(EDGE32), draw(EDGE32))
        elif what == "header" and len(head) >= 2 * SECTOR:
            off, fmt = draw(st.sampled_from(HEADER_FIELDS))
            bits = 32 if fmt == "<I" else 64
            struct.pack_into(fmt, head, SECTOR + off, draw(EDGE32 if bits == 32 else EDGE64))
            if reseal and off != 88:
                seal_entries(head, SECTOR)
            if reseal:
                seal_header(head, SECTOR)
        elif what == "entry" and len(head) >= 2 * SECTOR:
            lba, count, entry_size = struct.unpack_from("<QII", head, SECTOR + 72)
            slot = draw(st.integers(0, max(min(count, 8) - 1, 0)))
            off = lba * SECTOR + slot * entry_size
            if count and entry_size >= 48 and off + 48 <= len(head):
                kind = draw(st.sampled_from([*GPT_KINDS, uuid.UUID(int=0)]))
                head[off : off + 16] = kind.bytes_le
                struct.pack_into("<QQ", head, off + 32, draw(EDGE64), draw(EDGE64))
                if reseal:
                    seal_entries(head, SECTOR)
                    seal_header(head, SECTOR)
        elif what == "flip" and head:
            at = draw(st.integers(0, len(head) - 1))
            head[at] ^= draw(st.integers(1, 255))
        elif what == "wipe" and len(head) >= 2 * SECTOR:
            head[SECTOR : 2 * SECTOR] = bytes(SECTOR)  # only the backup GPT is left
        elif what == "signature":
            head[510] ^= 0xFF
        elif what == "size":
            size = draw(st.one_of(st.integers(len(head), base.size + 4096), EDGE64))
            size = max(size, len(head))
    return Image(bytes(head), size, [])


def boundaries(image: Image) -> list[int]:
    """Where cutting the file matters: the MBR's fields, the GPT header's, the entry array's
    and each entry's, each partition's start and end."""
    cuts = {0, 1, 446, 447, 462, 509, 510, 511, SECTOR, SECTOR + 1, SECTOR + 8}
    cuts |= {SECTOR + 12, SECTOR + 72, SECTOR + 84, SECTOR + 91, SECTOR + 92, 2 * SECTOR - 1}
    cuts.add(2 * SECTOR)
    if len(image.head) >= 2 * SECTOR and image.head[SECTOR : SECTOR + 8] == b"EFI PART":
        lba, count, entry_size = struct.unpack_from("<QII", image.head, SECTOR + 72)
        start = lba * SECTOR
        for i in range(min(count, 8) + 1):
            cuts |= {
                start + i * entry_size - 1,
                start + i * entry_size,
                start + i * entry_size + 40,
            }
        cuts |= {start + count * entry_size - 1, start + count * entry_size}
    for part in image.expected:
        cuts |= {part.start, part.start + part.size - 1, part.start + part.size}
    return sorted(c for c in cuts if 0 <= c < image.size)


# --- the partition table ---------------------------------------------------------------------


@given(VALID)
def test_valid_tables_read_back_exactly(image: Image) -> None:
    got = read(image)
    assert isinstance(got, list), got
    assert [Expected(p.number, p.start, p.size, p.kind) for p in got] == image.expected
    check_partitions(image.head, image.size, got)


@given(damaged())
def test_a_damaged_table_gives_its_partitions_or_one_line(image: Image) -> None:
    got = read(image)
    if isinstance(got, list):
        check_partitions(image.head, image.size, got)


@given(st.binary(max_size=3 * SECTOR), st.booleans(), st.integers(0, 2**40))
def test_random_bytes_give_partitions_or_one_line(data: bytes, signed: bool, extra: int) -> None:
    head = bytearray(data)
    if signed and len(head) >= SECTOR:
        head[510:512] = b"\x55\xaa"
    got = read(Image(bytes(head), len(head) + extra, []))
    if isinstance(got, list):
        check_partitions(bytes(head), len(head) + extra, got)


@given(VALID)
def test_a_file_cut_short_is_refused_at_every_boundary(image: Image) -> None:
    def cut_at(cut: int) -> list[Partition] | str:
        return outcome(lambda: partitions.read_table(image.head[:cut], cut))

    cuts = boundaries(image)  # the whole image's allocations: the other tests
    results = bounded(lambda: [cut_at(cut) for cut in cuts], mib=None)
    assert isinstance(results, list)
    for cut, got in zip(cuts, results, strict=True):
        if isinstance(got, list):
            check_partitions(image.head[:cut], cut, got)
        if any(p.start + p.size > cut for p in image.expected):
            assert isinstance(got, str), (cut, got)


@given(st.one_of(gpt_layouts(), gpt_layouts(small=True)), st.data())
def test_a_gpt_whose_checksum_does_not_match_is_never_used(
    layout: GptLayout, data: st.DataObject
) -> None:
    """Any byte the header's or the array's CRC32 covers (the CRCs themselves too), changed
    and left unsealed: the table is refused, never read as valid (nor as an MBR)."""
    image = bytearray(layout.gpt.image[:HEAD])
    array = layout.gpt.entries_lba * SECTOR
    covered = [*range(SECTOR, SECTOR + 92)]
    covered += [array, array + layout.gpt.entries * layout.gpt.entry_size - 1]
    where = data.draw(st.one_of(st.sampled_from(covered), st.integers(SECTOR, SECTOR + 91)))
    if data.draw(st.booleans()) and layout.gpt.entries:
        where = data.draw(
            st.integers(array, array + layout.gpt.entries * layout.gpt.entry_size - 1)
        )
    image[where] ^= data.draw(st.integers(1, 255))
    if SECTOR + 12 <= where < SECTOR + 16:  # the header's size: make sure the CRC is wrong
        struct.pack_into("<I", image, SECTOR + 16, header_crc(image[SECTOR : 2 * SECTOR]) ^ 1)
    got = read(Image(bytes(image), layout.size, []))
    assert isinstance(got, str), f"byte {where} changed, yet {got}"


ABSURD_COUNTS = st.sampled_from([0, 1, 2**16, 2**20, 2**31, U32])
ABSURD_SIZES = st.sampled_from([0, 1, 16, 48, 92, 127, 129, 200, 384, 2**16, 2**31, U32])


@given(
    st.one_of(gpt_layouts(), gpt_layouts(small=True)),
    ABSURD_COUNTS,
    st.one_of(ABSURD_SIZES, st.just(128)),
    st.one_of(st.just(2), EDGE64),
    st.booleans(),
)
def test_absurd_gpt_entry_arrays_are_refused_quickly(
    layout: GptLayout, count: int, entry_size: int, entries_lba: int, seal: bool
) -> None:
    """A header (with a right CRC) naming 2^32 entries, 0-byte or 2^32-byte entries, or an
    array at LBA 2^64: refused, or read, in bounded time and memory."""
    image = bytearray(layout.gpt.image[:HEAD])
    struct.pack_into("<QII", image, SECTOR + 72, entries_lba, count, entry_size)
    if seal:
        seal_entries(image, SECTOR)
    seal_header(image, SECTOR)
    got = read(Image(bytes(image), layout.size, []))
    if isinstance(got, list):
        check_partitions(bytes(image), layout.size, got)
        assert entry_size % 128 == 0 and count * entry_size <= HEAD


# --- reading an image file -------------------------------------------------------------------

EXT_MAGIC = b"\x53\xef"


@given(st.one_of(VALID, damaged()), st.booleans(), st.integers(0, 3))
def test_an_image_file_gives_its_root_and_boot_or_one_line(
    image: Image, ext: bool, cut: int
) -> None:
    """The file as diskimage.read_partitions reads it (its first MiB, then the root's first
    4 KiB), possibly cut short: the root is a Linux partition inside the file that holds an
    ext superblock, the boot one a FAT partition, or one line."""
    size = min(image.size, 2**36)  # a sparse file
    if cut:
        size = min(size, [len(image.head), SECTOR, size // 2][cut - 1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "disk.img")
        with path.open("wb") as f:
            f.write(image.head[:size])
            f.truncate(size)
            roots = [p for p in image.expected if p.kind == "linux"]
            if ext and roots and max(roots, key=lambda p: p.size).start + 4096 <= size:
                f.seek(max(roots, key=lambda p: p.size).start + partitions.EXT_MAGIC_OFFSET)
                f.write(EXT_MAGIC)
        got = bounded(lambda: diskimage.read_partitions(path))
        if isinstance(got, str):
            return
        root, boot = got
        assert root.kind == "linux" and root.size > 0 and root.start + root.size <= size
        with path.open("rb") as f:
            f.seek(root.start)
            assert partitions.is_ext(f.read(4096))
        if boot is not None:
            assert boot.kind == "fat" and boot.size > 0 and boot.start + boot.size <= size
            apart = boot.start + boot.size <= root.start or root.start + root.size <= boot.start
            assert apart, (root, boot)


# --- regressions: what the properties above found --------------------------------------------


def sealed_gpt_image(first: int, last: int, entry_size: int = 128) -> bytearray:
    """A protective MBR and a GPT (one Linux partition, ``entry_size``-byte entries) whose
    CRC32s match: whatever is wrong with it is what the caller wrote."""
    image = gpt_image([(0, partitions.LINUX_GUID, 34, 2081, "")], 4096).image
    struct.pack_into("<QQ", image, 2 * SECTOR + 32, first, last)
    struct.pack_into("<I", image, SECTOR + 84, entry_size)
    seal_entries(image, SECTOR)
    seal_header(image, SECTOR)
    return image


def test_regression_a_gpt_that_does_not_match_its_checksums_was_used() -> None:
    """Found by test_a_gpt_whose_checksum_does_not_match_is_never_used: no CRC32 was checked,
    so a GPT with one changed byte (or the unit tests' GPT without any CRC) was read."""
    image = sealed_gpt_image(34, 2081)
    assert read(Image(bytes(image), 4096 * SECTOR, [])) == [
        Partition(1, 34 * SECTOR, 2048 * SECTOR, "linux", "Linux filesystem")
    ]
    image[2 * SECTOR + 56] ^= ord("x")  # the entry's name: the array's CRC no longer matches
    assert read(Image(bytes(image), 4096 * SECTOR, [])) == (
        "the image's partition table is damaged: the GPT partition entries do not match "
        "their checksum: download it again"
    )
    image = sealed_gpt_image(34, 2081)
    image[SECTOR + 8] ^= 1  # the revision: the header's CRC no longer matches
    assert read(Image(bytes(image), 4096 * SECTOR, [])) == (
        "the image's partition table is damaged: the GPT header does not match its checksum: "
        "download it again"
    )


def test_regression_a_gpt_header_cut_short_raised_struct_error() -> None:
    """Found by test_a_file_cut_short_is_refused_at_every_boundary: an image of 520 bytes (a
    protective MBR, then "EFI PART") raised struct.error."""
    head = bytes(mbr_sector([(0, PROTECTIVE, 1, 100)])) + b"EFI PART"
    assert read(Image(head, len(head), [])) == (
        "the image has a protective MBR but no GPT header: the partition table is damaged"
    )


def test_regression_gpt_entries_under_128_bytes_raised() -> None:
    """Found by test_absurd_gpt_entry_arrays_are_refused_quickly: 8-byte entries raised
    ValueError (uuid), 32-byte ones struct.error, 0-byte ones ValueError."""
    for size in (0, 8, 32, 200):
        assert read(Image(bytes(sealed_gpt_image(34, 2081, size)), 4096 * SECTOR, [])) == (
            f"the image's partition table is damaged: the GPT header names {size}-byte "
            "entries at sector 2: download it again"
        )


def test_regression_a_gpt_partition_ending_before_it_starts_had_a_negative_size() -> None:
    """Found by test_a_damaged_table_gives_its_partitions_or_one_line: first LBA 100, last 50
    (CRCs right) gave a partition of -25088 bytes."""
    got = read(Image(bytes(sealed_gpt_image(100, 50)), 4096 * SECTOR, []))
    assert got == (
        "the image's partition table is damaged: GPT partition #1 ends (sector 50) before it "
        "starts: download it again"
    )


def test_regression_gpt_entries_past_the_first_mib_were_called_a_truncated_image() -> None:
    """Found reading _gpt while fixing the CRC checks: entries at sector 4096 of a 64 MiB image
    (past the 1 MiB armroot reads) were said to lie past the image's end (it is truncated)."""
    image = sealed_gpt_image(34, 2081)
    struct.pack_into("<Q", image, SECTOR + 72, 4096)
    seal_header(image, SECTOR)
    assert read(Image(bytes(image).ljust(HEAD, b"\0"), 64 << 20, [])) == (
        "the GPT partition entries lie beyond the image's first 1048576 bytes, where armroot "
        "reads them: give an image whose GPT entries follow its header (as partitioning tools "
        "write)"
    )


def test_regression_overlapping_partitions_and_one_over_the_mbr_were_accepted() -> None:
    """Found by test_a_damaged_table_gives_its_partitions_or_one_line: MBR partitions that
    overlap, and one at LBA 0 (over the MBR itself), were returned."""
    overlapping = bytes(mbr_sector([(0, 0x83, 1, 100), (1, 0x0C, 50, 100)]))
    assert read(Image(overlapping, 1 << 20, [])) == (
        "the image's partition table is damaged: partitions #1 Linux (0 MiB at 512) and #2 FAT "
        "(0 MiB at 25600) overlap: download it again"
    )
    over_the_mbr = bytes(mbr_sector([(0, 0x83, 0, 100)]))
    assert read(Image(over_the_mbr, 1 << 20, [])) == (
        "the image's partition table is damaged: partition #1 Linux (0 MiB at 0) overlaps the "
        "partition table: download it again"
    )
