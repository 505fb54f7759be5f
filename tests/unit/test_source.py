from __future__ import annotations

from pathlib import Path

import pytest

from armroot.errors import UsageError
from armroot.images import source
from armroot.rootfs.arch import ARM64, ARMEL, ARMHF, by_name


def test_debian_suites_parse() -> None:
    assert source.parse("debian:trixie") == source.DebianSource("trixie")


def test_unknown_suite_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as exc:
        source.parse("debian:potato")
    assert "debian:trixie" in exc.value.one_line() and "potato" in exc.value.one_line()


def test_unknown_scheme_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown source scheme 'ftp:'"):
        source.parse("ftp://host/root.tar")


def test_unknown_catalogue_id_suggests_close_ones() -> None:
    with pytest.raises(UsageError) as exc:
        source.parse("archlinuxarm:rpi-armv8")
    assert "did you mean archlinuxarm:rpi-armv7" in exc.value.one_line()


def test_catalogue_ids_and_urls() -> None:
    alarm = source.parse("archlinuxarm:rpi-aarch64")
    assert isinstance(alarm, source.RemoteSource) and alarm.kind == source.TARBALL
    assert alarm.arch == "arm64" and "pi4" in alarm.boards
    deb = source.parse("debian:bookworm-armhf")
    assert isinstance(deb, source.DebianSource)
    assert (deb.suite, deb.arch) == ("bookworm", "armhf") and "pi4" in deb.boards
    url = source.parse("https://example.org/os/2025-raspios-lite.img.xz")
    assert isinstance(url, source.RemoteSource) and url.kind == source.DISK_IMAGE
    with pytest.raises(UsageError, match="cannot tell what"):
        source.parse("https://example.org/os/readme.html")


def test_tarball_must_exist_and_look_like_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        source.parse(str(tmp_path / "missing.tar.gz"))
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(UsageError, match="not a tarball or disk image"):
        source.parse(str(other))
    good = tmp_path / "root.tar.xz"
    good.write_bytes(b"")
    assert source.parse(str(good)) == source.FileSource(good, source.TARBALL)
    image = tmp_path / "pi.img"
    image.write_bytes(b"")
    assert source.parse(str(image)) == source.FileSource(image, source.DISK_IMAGE)


def test_arch_names_and_aliases() -> None:
    assert by_name("arm64") is ARM64 and by_name("aarch64") is ARM64
    assert by_name("armhf") is ARMHF and by_name("armv7h") is ARMHF
    assert by_name("armel") is ARMEL
    with pytest.raises(UsageError, match="unsupported architecture 'mips'"):
        by_name("mips")
