"""Compressed disk images (images.diskimage._unzip, _unxz): a downloaded .zip or .img.xz
is untrusted. Each gives its image (the one .img of a zip, every stream of an xz) or one
line; damaged ones (bytes flipped, cut short, bytes appended, members encrypted or of an
unknown compression method) never raise anything else, in bounded time and memory.

The partition tables are tested in test_fuzz_partitions, the image's root in
test_fuzz_image_root.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from armroot.images import diskimage
from tests.fuzz.images import bounded

# --- compressed images: .img.xz and .zip -----------------------------------------------------

IMG_DATA = st.one_of(st.binary(max_size=2048), st.integers(0, 8192).map(bytes))
METHODS = st.sampled_from(
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
MEMBER_NAMES = st.sampled_from(["disk.img", "2024-raspios.img", "README", "x/y.img", "../a.img"])


@st.composite
def zips(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """A zip (its bytes, and the one .img's data if it holds one and is undamaged)."""
    buffer = io.BytesIO()
    members = draw(
        st.lists(st.tuples(MEMBER_NAMES, IMG_DATA, METHODS), max_size=3, unique_by=lambda m: m[0])
    )
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, method in members:
            archive.writestr(name, data, compress_type=method)
    raw = bytearray(buffer.getvalue())
    images = [data for name, data, _ in members if name.endswith(".img")]
    whole = images[0] if len(images) == 1 else None
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["flip", "cut", "encrypted", "method"]))
        if what == "flip" and raw:
            raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
        elif what == "cut":
            raw = raw[: draw(st.integers(0, len(raw)))]
        else:
            flag = what == "encrypted"
            value = draw(st.sampled_from([1, 9, 12, 14, 93, 98, 99, 0xFFFF]))
            for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
                at = raw.find(signature)
                while at >= 0 and at + offset + 4 <= len(raw):
                    if flag:
                        raw[at + offset] |= 1
                    else:
                        struct.pack_into("<H", raw, at + offset + 2, value)
                    at = raw.find(signature, at + 4)
        whole = None
    return bytes(raw), whole


def check_unpacked(
    unpack: Callable[[Path, Path, hashlib._Hash], None],
    name: str,
    raw: bytes,
    whole: bytes | None,
) -> None:
    """``raw``, written to ``name``, unpacked: one line or None, and then (if ``whole`` is
    not None) the image is exactly ``whole``."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, name), Path(tmp, "disk.img")
        source.write_bytes(raw)
        got = bounded(lambda: unpack(source, target, hashlib.sha256()))
        if whole is not None:
            assert got is None and target.read_bytes() == whole


@given(zips())
def test_a_zip_gives_its_image_or_one_line(archive: tuple[bytes, bytes | None]) -> None:
    raw, whole = archive
    check_unpacked(diskimage._unzip, "pi.zip", raw, whole)


@st.composite
def xzs(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    data = draw(IMG_DATA)
    fmt = draw(st.sampled_from([lzma.FORMAT_XZ, lzma.FORMAT_ALONE]))
    check = draw(st.sampled_from([lzma.CHECK_CRC64, lzma.CHECK_NONE, lzma.CHECK_SHA256]))
    raw = bytearray(lzma.compress(data, fmt, check if fmt == lzma.FORMAT_XZ else -1))
    whole: bytes | None = data
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["flip", "cut", "append", "twice"]))
        if what == "flip" and raw:
            raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
            whole = None
        elif what == "cut":
            raw = raw[: draw(st.integers(0, len(raw)))]
            whole = None
        elif what == "append":
            raw += draw(st.binary(min_size=1, max_size=16))
            whole = None
        elif whole is not None and fmt == lzma.FORMAT_XZ:
            raw = bytearray(bytes(raw) * 2)  # two streams: the data twice
            whole += whole
    return bytes(raw), whole


@given(xzs())
def test_an_xz_gives_its_image_or_one_line(stream: tuple[bytes, bytes | None]) -> None:
    raw, whole = stream
    check_unpacked(diskimage._unxz, "pi.img.xz", raw, whole)


# --- regressions: what the properties above found --------------------------------------------


def one_member_zip(method: int, flags: int = 0, data: bytes = b"\x55" * 64) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("disk.img", data, compress_type=method)
    raw = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        raw[raw.find(signature) + offset] |= flags
    return bytes(raw)


def test_regression_an_encrypted_or_odd_zip_raised() -> None:
    """Found by test_a_zip_gives_its_image_or_one_line: an encrypted member raised
    RuntimeError, an unknown compression method NotImplementedError, damaged bzip2 data
    OSError ("Invalid data stream"), a central directory said to start past where it does
    OSError (EINVAL: zipfile seeks before the file's start)."""
    unknown = bytearray(one_member_zip(zipfile.ZIP_STORED))
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        struct.pack_into("<H", unknown, unknown.find(signature) + offset, 99)  # AES
    bz2 = bytearray(one_member_zip(zipfile.ZIP_BZIP2))
    bz2[30 + len("disk.img")] ^= 0xFF  # the "BZh" magic of the member's data
    shifted = bytearray(one_member_zip(zipfile.ZIP_STORED))
    end = shifted.rfind(b"PK\x05\x06")
    struct.pack_into("<I", shifted, end + 16, struct.unpack_from("<I", shifted, end + 16)[0] + 256)
    cases = {
        one_member_zip(zipfile.ZIP_STORED, flags=1): (
            "pi.zip holds disk.img encrypted: give the .img (or a .zip holding it unencrypted)"
        ),
        bytes(unknown): (
            "pi.zip is not a readable zip (That compression method is not supported): "
            "download it again"
        ),
        bytes(bz2): "pi.zip is not a readable zip (Invalid data stream): download it again",
        bytes(shifted): "pi.zip is not a readable zip (Invalid argument): download it again",
    }
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "pi.zip"), Path(tmp, "disk.img")
        for raw, line in cases.items():
            source.write_bytes(raw)
            got = bounded(lambda: diskimage._unzip(source, target, hashlib.sha256()))
            assert got == line
