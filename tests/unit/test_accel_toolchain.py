"""Where native compilers cannot be had: the one line a user gets (no processes run here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from armroot.accel import toolchain


def test_a_host_that_is_not_x86_64_is_told_what_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.uname()
    fake = os.uname_result((*real[:4], "aarch64"))
    monkeypatch.setattr(os, "uname", lambda: fake)
    with pytest.raises(toolchain.Unavailable) as caught:
        toolchain.prepare(Path("/nonexistent"))
    assert "this host is aarch64" in caught.value.message
    assert "arm64 roots already run their gcc natively" in caught.value.hint


def test_a_missing_armroot_zig_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARMROOT_ZIG", str(tmp_path / "zig"))
    with pytest.raises(toolchain.Unavailable) as caught:
        toolchain.find_zig()
    assert caught.value.message == f"ARMROOT_ZIG={tmp_path / 'zig'} does not exist"
    assert "pip install" in caught.value.hint and "--no-accel" in caught.value.hint


def test_the_ziglang_package_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARMROOT_ZIG", raising=False)
    zig = Path(toolchain.find_zig())
    assert zig.name == "zig" and (zig.parent / "lib/include/stddef.h").is_file()


def test_the_sources_zig_builds_ship_with_the_package() -> None:
    assert b"/run/armroot/accel/config" in toolchain._source("shim.c")
    assert b"/run/armroot/accel/machine" in toolchain._source("uname.c")
