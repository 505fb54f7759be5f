from __future__ import annotations

import json
import struct
import uuid
import zlib
from pathlib import Path
from urllib.parse import urlparse

import pytest

from armroot.commands.create import CreateOptions, create
from armroot.errors import SourceError, UsageError
from armroot.host import openpgp
from armroot.images import catalogue, download, partitions
from armroot.rootfs import boards
from armroot.rootfs.arch import ARM64, ARMHF, CpuLevel
from armroot.store.envs import Store


def test_every_flavour_is_well_formed_and_the_default_addresses_are_the_publishers() -> None:
    assert {f.id for f in catalogue.FLAVOURS} >= {
        "archlinuxarm:rpi-armv7",
        "archlinuxarm:rpi-aarch64",
        "raspios:lite-armhf",
        "raspios:lite-arm64",
        "alpine:armhf",
        "alpine:armv7",
        "alpine:aarch64",
    }
    for flavour in catalogue.FLAVOURS:
        assert flavour.family in catalogue.FAMILIES
        assert flavour.boards and set(flavour.boards) <= set(boards.ALL_NAMES), flavour.id
    for family in catalogue.FAMILIES:
        assert urlparse(catalogue.DEFAULTS[family]).scheme == "https", family
    for entry in catalogue.DEBIAN_ENTRIES:
        assert entry.verify == catalogue.MMDEBSTRAP and entry.suite and entry.boards
    assert "debian:trixie-arm64" in catalogue.all_ids()


def test_the_pinned_arch_linux_arm_key_is_the_build_key() -> None:
    keys, fingerprints = catalogue.pinned_key("archlinuxarm")
    assert fingerprints == catalogue.PINNED["archlinuxarm"].fingerprints
    assert set(fingerprints) <= set(openpgp.fingerprints(keys))


def test_extra_catalogue_file_adds_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "extra.json"
    extra.write_text(
        json.dumps(
            [
                {
                    "id": "mine:pi",
                    "title": "t",
                    "kind": "tarball",
                    "arch": "armhf",
                    "url": "http://127.0.0.1/x.tar.gz",
                    "verify": "sha256",
                    "checksum": "0" * 64,
                }
            ]
        )
    )
    monkeypatch.setenv("ARMROOT_CATALOGUE", str(extra))
    assert catalogue.lookup("mine:pi").boards == boards.ALL_NAMES
    monkeypatch.setenv("ARMROOT_CATALOGUE", str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="ARMROOT_CATALOGUE"):
        catalogue.lookup("mine:pi")


def test_md5_alone_and_a_signature_without_a_key_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = {"id": "mine:pi", "title": "t", "kind": "tarball", "arch": "armhf"}
    extra = tmp_path / "extra.json"
    monkeypatch.setenv("ARMROOT_CATALOGUE", str(extra))
    extra.write_text(json.dumps([entry | {"url": "http://127.0.0.1/x.tgz", "verify": "md5-file"}]))
    with pytest.raises(UsageError) as md5:
        catalogue.lookup("mine:pi")
    assert "'md5-file', which armroot does not accept" in str(md5.value)
    assert "md5 alone proves nothing" in md5.value.hint
    extra.write_text(json.dumps([entry | {"url": "http://127.0.0.1/x.tgz", "verify": "openpgp"}]))
    with pytest.raises(UsageError, match="needs the signer's key"):
        catalogue.lookup("mine:pi")


def test_checksum_files_in_the_usual_shapes() -> None:
    sha = "a" * 64
    assert download.parse_checksum_file(f"{sha}  pi.img.xz\n", "pi.img.xz", "sha256") == sha
    assert download.parse_checksum_file(f"{sha} *dir/pi.img.xz\n", "pi.img.xz", "sha256") == sha
    assert download.parse_checksum_file(sha, "pi.img.xz", "sha256") == sha
    text = f"{'c' * 64}  other.tar.gz\n{sha}  ArchLinuxARM.tar.gz\n"
    assert download.parse_checksum_file(text, "ArchLinuxARM.tar.gz", "sha256") == sha


def test_boards_map_to_architectures() -> None:
    zero = boards.by_name("pi-zero")
    assert zero.runs(ARMHF, CpuLevel.V6) and not zero.runs(ARMHF, CpuLevel.V7)
    assert not zero.runs(ARM64, CpuLevel.V8)
    assert boards.by_name("pi4").qemu_cpu(ARM64) == "cortex-a72"
    with pytest.raises(UsageError, match="unknown board 'pi6'"):
        boards.by_name("pi6")


def _mbr(entries: list[tuple[int, int, int]], size_sectors: int) -> bytes:
    head = bytearray(1 << 16)
    for i, (ptype, start, count) in enumerate(entries):
        off = 446 + 16 * i
        head[off + 4] = ptype
        head[off + 8 : off + 12] = start.to_bytes(4, "little")
        head[off + 12 : off + 16] = count.to_bytes(4, "little")
    head[510:512] = b"\x55\xaa"
    del size_sectors
    return bytes(head)


def test_mbr_partitions_are_found_and_chosen() -> None:
    head = _mbr([(0x0C, 8192, 1024), (0x83, 16384, 4096)], 0)
    parts = partitions.read_table(head, 64 * 2**20)
    root, boot = partitions.choose(parts)
    assert root.kind == "linux" and root.start == 16384 * 512
    assert boot is not None and boot.kind == "fat"


def test_no_linux_partition_lists_what_was_found() -> None:
    parts = partitions.read_table(_mbr([(0x0C, 8192, 1024)], 0), 64 * 2**20)
    with pytest.raises(SourceError, match=r"no Linux partition \(partitions found: #1 FAT"):
        partitions.choose(parts)


def test_truncated_image_is_detected() -> None:
    head = _mbr([(0x83, 16384, 4096)], 0)
    with pytest.raises(SourceError) as exc:
        partitions.read_table(head, 16384 * 512 + 100)
    assert "runs past the end" in exc.value.one_line() and "truncated" in exc.value.one_line()


def test_not_a_disk_image() -> None:
    with pytest.raises(SourceError, match="no MBR or GPT"):
        partitions.read_table(b"\0" * 4096, 4096)


def _gpt(entries: list[tuple[uuid.UUID, int, int, str]]) -> bytes:
    """A protective MBR, a GPT header at LBA 1 and its entries at LBA 2."""
    head = bytearray(_mbr([(0xEE, 1, 0xFFFFFFFF)], 0))
    for i, (type_guid, first, last, name) in enumerate(entries):
        off = 1024 + 128 * i
        head[off : off + 16] = type_guid.bytes_le
        struct.pack_into("<QQ", head, off + 32, first, last)
        encoded = name.encode("utf-16-le")
        head[off + 56 : off + 56 + len(encoded)] = encoded
    header = bytearray(92)
    struct.pack_into("<8sII", header, 0, b"EFI PART", 0x00010000, 92)
    struct.pack_into("<QIII", header, 72, 2, 128, 128, zlib.crc32(head[1024 : 1024 + 128 * 128]))
    struct.pack_into("<I", header, 16, zlib.crc32(header))
    head[512 : 512 + 92] = header
    return bytes(head)


def test_gpt_partitions_are_found_and_chosen() -> None:
    head = _gpt(
        [
            (partitions.ESP_GUID, 2048, 526335, "boot"),
            (partitions.LINUX_GUID, 526336, 8388574, "root"),
        ]
    )
    parts = partitions.read_table(head, 8388608 * 512)
    root, boot = partitions.choose(parts)
    assert root.start == 526336 * 512 and root.kind == "linux" and "'root'" in root.label
    assert boot is not None and boot.label.startswith("EFI system")


def test_arch_linux_arm_says_why_armv6_boards_cannot_have_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARMROOT_CACHE", str(tmp_path / "cache"))
    for image in ("archlinuxarm:rpi-armv7", "archlinuxarm:rpi-aarch64"):
        with pytest.raises(UsageError) as refused:
            create(CreateOptions("x", image, board="pi-zero"), Store(tmp_path / "store"))
        assert str(refused.value) == (
            f"{image} does not run on pi-zero: Arch Linux ARM dropped ARMv6 (Pi Zero, Pi 1) "
            "in 2022: it has no image for them"
        )
        assert "pi2" in refused.value.hint or "pi3" in refused.value.hint
    assert not (tmp_path / "store").exists()  # refused before anything was made


def test_boards_know_their_kernels_page_size() -> None:
    assert {b.name: b.page_kib for b in boards.BOARDS if b.page_kib != 4} == {"pi5": 16}
    warning = boards.page_size_warning(boards.by_name("pi5"))
    assert warning is not None
    assert "16 KiB pages" in warning and "4 KiB" in warning and "--with-lg-page=14" in warning
    assert boards.page_size_warning(boards.by_name("pi4")) is None
