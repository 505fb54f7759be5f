"""Native cmake: which version a root has, and how the session runs it (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from armroot.accel import cmake, layout, mounts, shim, toolchain
from armroot.rootfs import arch
from armroot.sandbox.ops import Bind, File, Symlink

STATUS = """Package: cmake-data
Status: install ok installed
Version: 3.31.6-2

Package: cmake
Status: install ok installed
Priority: optional
Version: 3.31.6-2
Depends: cmake-data (= 3.31.6-2)

Package: libfoo
Status: install ok installed
Version: 1:2.0-1
"""


def test_the_installed_cmake_version_is_read_from_dpkg() -> None:
    assert cmake.dpkg_version(STATUS, "cmake") == "3.31.6-2"
    assert cmake.dpkg_version(STATUS, "cmake-data") == "3.31.6-2"
    assert cmake.dpkg_version(STATUS, "libfoo") == "1:2.0-1"
    assert cmake.dpkg_version(STATUS, "make") is None
    removed = STATUS.replace(
        "Package: cmake\nStatus: install ok installed",
        "Package: cmake\nStatus: deinstall ok config-files",
    )
    assert cmake.dpkg_version(removed, "cmake") is None


def test_root_version_drops_epoch_and_revision(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(
        STATUS.replace("Version: 3.31.6-2\nDepends", "Version: 1:3.25.1-1+b1\nDepends")
    )
    assert cmake.root_cmake_version(tmp_path) == "3.25.1"
    status.write_text(STATUS.replace("Version: 3.31.6-2\nDepends", "Version: 4.0.0~rc1-1\nDepends"))
    assert cmake.root_cmake_version(tmp_path) is None  # no such release on PyPI to match


def test_pacman_roots_name_the_version_in_their_database(tmp_path: Path) -> None:
    (tmp_path / "var/lib/pacman/local/cmake-3.31.6-1").mkdir(parents=True)
    assert cmake.root_cmake_version(tmp_path) == "3.31.6"
    assert cmake.NativeCmake("3.31.6", "", "").share_name == "cmake-3.31"


def test_uname_machine_follows_the_qemu_cpu() -> None:
    assert arch.uname_machine(arch.ARM64, "cortex-a72") == "aarch64"
    assert arch.uname_machine(arch.ARMHF, "cortex-a7") == "armv7l"
    assert arch.uname_machine(arch.ARMHF, "max") == "armv7l"
    assert arch.uname_machine(arch.ARMHF, "arm1176") == "armv6l"
    assert arch.uname_machine(arch.ARMEL, "arm926") == "armv5tejl"


def test_native_cmake_runs_through_the_host_loader_without_touching_the_environment() -> None:
    parts = shim.NativeCmakeParts(
        "/cache/cmake-3.31.6", "/lib/x86_64-linux-gnu", "/cache/u.so", "cmake-3.31", "armv7l"
    )
    tools = shim.tools("arm-linux-gnueabihf", "14", {"/usr/bin/cc"}.__contains__)
    accel = mounts.session(
        "/zig", "/cache/shim", "arm-linux-gnueabihf", (), tools, False, "/usr/bin", parts
    )
    config = next(
        op for op in accel.ops if isinstance(op, File) and op.target == layout.CONFIG_INSIDE
    )
    lines = config.content.splitlines()
    assert "tool\tcmake\tcmake\t-" in lines and "tool\tctest\tctest\t-" in lines
    kind = next(line.split("\t") for line in lines if line.startswith("kind\tcmake\t"))
    assert kind[2:] == [
        f"{layout.HOST_LIB_INSIDE}/ld-linux-x86-64.so.2",
        "--library-path", layout.HOST_LIB_INSIDE,
        "--preload", layout.PRELOAD_INSIDE,
        "--argv0", f"{layout.CMAKE_INSIDE}/bin/cmake",
        f"{layout.CMAKE_INSIDE}/native/cmake",
    ]  # fmt: skip
    machine = next(
        op for op in accel.ops if isinstance(op, File) and op.target == layout.MACHINE_INSIDE
    )
    assert machine.content == "armv7l\n"
    links = {op.target: op.link_to for op in accel.ops if isinstance(op, Symlink)}
    assert links[f"{layout.CMAKE_INSIDE}/share/cmake-3.31"] == "/usr/share/cmake-3.31"
    assert links[f"{layout.BIN_INSIDE}/cmake"] == "../armroot-shim"
    binds = {op.target: op for op in accel.ops if isinstance(op, Bind)}
    assert binds[f"{layout.CMAKE_INSIDE}/bin/cmake"].source == "/cache/shim"  # a file: cmake
    assert all(b.readonly for b in binds.values())  # looks for ../share beside it
    assert "LD_PRELOAD" not in dict(accel.env) and "LD_LIBRARY_PATH" not in dict(accel.env)
    for op in accel.ops:
        assert op.target.startswith("/run/armroot/")


def test_a_failed_download_is_not_retried_every_session(tmp_path: Path) -> None:
    # Unit tests may not start processes: reaching pip here would fail the test.
    (tmp_path / "accel").mkdir()
    (tmp_path / "accel/cmake-3.31.6.failed").write_text("No matching distribution\n")
    with pytest.raises(toolchain.Unavailable) as caught:
        cmake.fetch("3.31.6", tmp_path)
    assert caught.value.quiet and "No matching distribution" in caught.value.message
    assert "cmake-3.31.6.failed" in caught.value.hint
