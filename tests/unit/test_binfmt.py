from __future__ import annotations

from pathlib import Path

import pytest

from armroot.errors import HostError
from armroot.host import binfmt, qemu
from armroot.host.checks import parse_qemu_version
from armroot.rootfs.arch import ARM64, ARMEL, ARMHF

AARCH64_ENTRY = """enabled
interpreter /usr/bin/qemu-aarch64-static
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def _fake_binfmt(tmp_path: Path, entries: dict[str, str]) -> Path:
    directory = tmp_path / "binfmt_misc"
    directory.mkdir()
    (directory / "register").write_text("")
    (directory / "status").write_text("enabled\n")
    for name, text in entries.items():
        (directory / name).write_text(text)
    return directory


def test_parse_entry_reads_flags_and_magic() -> None:
    handler = binfmt.parse_entry("qemu-aarch64", AARCH64_ENTRY)
    assert handler.enabled and handler.fix_binary
    assert handler.interpreter == "/usr/bin/qemu-aarch64-static"
    assert handler.matches(ARM64)
    assert not handler.matches(ARMHF)


def test_registration_line_round_trips_through_the_parser() -> None:
    line = binfmt.registration(ARMHF, "/usr/bin/qemu-arm-static")
    fields = line.split(":")
    assert fields[1] == "qemu-arm" and fields[2] == "M" and fields[-1] == "OPF"
    magic = bytes.fromhex(fields[4].replace("\\x", ""))
    mask = bytes.fromhex(fields[5].replace("\\x", ""))
    entry = (
        f"enabled\ninterpreter x\nflags: OPF\noffset 0\nmagic {magic.hex()}\nmask {mask.hex()}\n"
    )
    handler = binfmt.parse_entry("qemu-arm", entry)
    assert handler.matches(ARMHF) and handler.matches(ARMEL) and not handler.matches(ARM64)


def test_unmounted_binfmt_names_doctor_fix(tmp_path: Path) -> None:
    with pytest.raises(HostError) as exc:
        qemu.qemu_binds(ARM64, tmp_path / "nothing")
    assert "doctor --fix" in exc.value.one_line()


def test_missing_handler_names_the_package_and_doctor(tmp_path: Path) -> None:
    directory = _fake_binfmt(tmp_path, {})
    with pytest.raises(HostError) as exc:
        qemu.qemu_binds(ARM64, directory)
    line = exc.value.one_line()
    assert "qemu-user-static" in line and "doctor --fix" in line


def test_disabled_handler_is_reported(tmp_path: Path) -> None:
    directory = _fake_binfmt(
        tmp_path, {"qemu-aarch64": AARCH64_ENTRY.replace("enabled", "disabled")}
    )
    with pytest.raises(HostError, match="disabled"):
        qemu.qemu_binds(ARM64, directory)


def test_handler_with_f_flag_needs_no_bind(tmp_path: Path) -> None:
    directory = _fake_binfmt(tmp_path, {"qemu-aarch64": AARCH64_ENTRY})
    assert qemu.qemu_binds(ARM64, directory) == ()


def test_handler_without_f_flag_and_missing_interpreter_is_an_error(tmp_path: Path) -> None:
    entry = AARCH64_ENTRY.replace("flags: POF", "flags: P").replace(
        "/usr/bin/qemu-aarch64-static", str(tmp_path / "gone")
    )
    directory = _fake_binfmt(tmp_path, {"qemu-aarch64": entry})
    with pytest.raises(HostError, match="does not exist"):
        qemu.qemu_binds(ARM64, directory)


def test_handler_without_f_flag_and_dynamic_interpreter_is_explained(tmp_path: Path) -> None:
    # /bin/sh on the host is a dynamically linked x86_64 program: it stands in for a dynamic qemu.
    entry = AARCH64_ENTRY.replace("flags: POF", "flags: P").replace(
        "/usr/bin/qemu-aarch64-static", "/bin/sh"
    )
    directory = _fake_binfmt(tmp_path, {"qemu-aarch64": entry})
    with pytest.raises(HostError, match="dynamically linked QEMU"):
        qemu.qemu_binds(ARM64, directory)


def test_qemu_version_parsing() -> None:
    text = "qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
    assert parse_qemu_version(text) == (7, 2, 22)
    assert parse_qemu_version("garbage") is None


def test_readdir_verdict_warns_when_a_32_bit_listing_comes_out_short() -> None:
    from armroot.host.checks import readdir_verdict

    assert readdir_verdict("hf", 435, 435).status == "ok"
    short = readdir_verdict("hf", 12, 435)
    assert short.status == "warn" and "listed 12 of 435" in short.detail
    assert "LP#1805913" in short.detail and "qemu-user-static" in short.fix
    assert "failed" in readdir_verdict("hf", None, 435).detail
