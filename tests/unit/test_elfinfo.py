from __future__ import annotations

import sys
from pathlib import Path

import pytest

from armroot.errors import SourceError
from armroot.rootfs import elfinfo
from armroot.rootfs.arch import ARM64, ARMHF, CpuLevel, default_emulation


def test_host_python_is_x86_64_and_not_an_arm_arch() -> None:
    info = elfinfo.read(Path(sys.executable).resolve())
    assert info.machine_name in ("x86_64", "64-bit ARM (aarch64)")
    if info.machine_name == "x86_64":
        assert info.arch() is None


def test_non_elf_is_a_source_error(tmp_path: Path) -> None:
    text = tmp_path / "sh"
    text.write_text("#!/bin/sh\n")
    with pytest.raises(SourceError, match="not a readable ELF"):
        elfinfo.read(text)


def test_default_emulation_follows_the_cpu_level() -> None:
    assert default_emulation(ARMHF, CpuLevel.V6).uname_machine == "armv6l"
    assert default_emulation(ARMHF, CpuLevel.V7).uname_machine == "armv7l"
    assert default_emulation(ARM64, CpuLevel.V8).uname_machine == "aarch64"
