"""Which twin file stands for which of the root's, the handler's table, the ELF identity the
handler reads, and the choices around them (modes, kernels, id maps). Pure."""

from __future__ import annotations

import struct

import pytest

from armroot.accel import twin_session
from armroot.errors import UsageError
from armroot.host import binfmt
from armroot.sandbox.ops import Bind, Binfmt, File
from armroot.sandbox.own_userns import identity_map
from armroot.session.request import accel_mode, package_mode
from armroot.twins import elfid, select, table
from armroot.twins.prepare import TwinSet
from armroot.twins.select import Missing

AT = table.Words("/c", "trees/l/ld.so", "sets/k/lib", "/p.so", "/s.specs", "/plug")
MAKE = table.Program("ab12", "usr/bin/make", "trees/m/usr/bin/make", "make")
GCC = table.Program(
    "cd34",
    "usr/bin/aarch64-linux-gnu-gcc-14",
    "trees/g/usr/bin/aarch64-linux-gnu-gcc-14",
    "gcc-14-aarch64-linux-gnu",
    driver=True,
    offload="args",
)


def test_cross_internals_map_to_the_roots_gcc_dirs() -> None:
    cc1 = "usr/libexec/gcc-cross/aarch64-linux-gnu/14/cc1"
    assert table.root_path(cc1, cross=True) == "usr/libexec/gcc/aarch64-linux-gnu/14/cc1"
    assert table.root_path(cc1, cross=False) == cc1  # a same-source twin keeps its paths
    assert table.root_path("usr/bin/make", cross=True) == "usr/bin/make"
    assert table.is_program_path("usr/libexec/gcc-cross/x/14/cc1")
    assert not table.is_program_path("usr/share/doc/make/README")


def test_a_package_twinned_in_some_programs_gives_only_those() -> None:
    dpkg, apt = select.SOME_PROGRAMS["dpkg"], select.SOME_PROGRAMS["apt"]
    assert table.is_program_path("usr/bin/dpkg-deb", dpkg)
    assert not table.is_program_path("usr/bin/dpkg", dpkg)  # its architecture is compiled in
    assert not table.is_program_path("usr/bin/dpkg-query", dpkg)
    assert table.is_program_path("usr/lib/apt/methods/http", apt)
    assert table.is_program_path("usr/bin/apt-get", apt)  # told the root's architecture
    assert not table.is_program_path("usr/bin/apt-cache", apt)
    assert not table.is_program_path("usr/bin/apt", apt)
    assert not table.is_program_path("usr/lib/apt/methods/http")  # not a program dir of its own


def test_apt_get_is_told_the_roots_architecture_or_stays_emulated() -> None:
    apt_get = table.Program("ef56", "usr/bin/apt-get", "trees/a/usr/bin/apt-get", "apt")
    words = table.command(apt_get, AT._replace(dpkg_arch="armhf"))
    assert words[-3:] == (
        "trees/a/usr/bin/apt-get".join(("/c/", "")),
        "-o",
        "APT::Architecture=armhf",
    )
    assert table.command(MAKE, AT._replace(dpkg_arch="armhf")) == table.command(MAKE, AT)
    with_arch = table.render((MAKE, apt_get), AT._replace(dpkg_arch="arm64"), (), False)
    assert "twin\tef56\t" in with_arch and "APT::Architecture=arm64" in with_arch
    without = table.render((MAKE, apt_get), AT, (), False)  # no architecture to give it
    assert "ef56" not in without and "twin\tab12\t" in without


def test_md5sums_and_the_offload_rule() -> None:
    sums = table.md5sums("14fe  usr/bin/dash\nbad line\naa58  usr/share/x y\n")
    assert sums == {"usr/bin/dash": "14fe", "usr/share/x y": "aa58"}
    marked = b"\0-foffload-options=-l_GCC_m\0"
    assert table.offload("usr/bin/aarch64-linux-gnu-gcc-14", marked) == "args"
    assert table.offload("usr/bin/aarch64-linux-gnu-g++-14", marked) == "link"
    assert table.offload("usr/bin/aarch64-linux-gnu-gfortran-14", marked) == "link-fortran"
    assert table.offload("usr/bin/arm-linux-gnueabihf-g++-14", b"no offloading") == ""


def test_a_twin_runs_through_its_own_loader_with_nothing_in_the_environment() -> None:
    words = table.command(MAKE, AT)
    assert words == (
        "/c/trees/l/ld.so",
        "--inhibit-cache",
        "--library-path",
        "/c/sets/k/lib",
        "--preload",
        "/p.so",
        "--argv0",
        "{argv0}",
        "/c/trees/m/usr/bin/make",
    )
    assert table.environment(MAKE) == ()


def test_a_gcc_driver_twin_is_told_where_the_roots_gcc_lives() -> None:
    words = table.command(GCC, AT)
    assert words[-4:] == (
        "/c/trees/g/usr/bin/aarch64-linux-gnu-gcc-14",
        "-specs=/s.specs",
        "-B/plug/",
        "-B/usr/libexec/gcc/aarch64-linux-gnu/14/",
    )
    assert table.environment(GCC) == ("GCC_EXEC_PREFIX=/usr/lib/gcc/",)
    specs = table.driver_specs("aarch64-linux-gnu", "14", offload=False)
    assert "-isystem /usr/include/aarch64-linux-gnu/c++/14" in specs
    assert specs.startswith("*cc1plus:\n+ -nostdinc++ -isystem /usr/include/c++/14 ")
    assert "crtoffload" not in specs
    offloading = table.driver_specs("aarch64-linux-gnu", "14", offload=True)
    assert "*startfile:\n+ %{fopenacc|fopenmp:crtoffloadbegin%O%s}\n" in offloading


def test_the_table_lists_qemu_twins_env_and_offload_lines() -> None:
    text = table.render((MAKE, GCC), AT, ((183, "/q/qemu-aarch64-static"),), verbose=True)
    lines = text.splitlines()
    assert lines[0] == "verbose\t1"
    assert lines[1] == "qemu\t183\t/q/qemu-aarch64-static"
    assert lines[2].startswith("twin\tab12\t/c/trees/l/ld.so\t--inhibit-cache\t")
    assert "env\tcd34\tGCC_EXEC_PREFIX=/usr/lib/gcc/" in lines
    assert "offload-m\tcd34\targs" in lines
    assert "emulate-prefix\tcd34\t-print-" in lines and "emulate-alone\tcd34\t-v" in lines
    assert "emulate-exact\tcd34\t--version" in lines
    assert not [line for line in lines if line.startswith("emulate") and "\tab12\t" in line]
    with pytest.raises(ValueError, match="a tab, newline or NUL"):
        table.render((MAKE,), AT._replace(cache="/c\tx"), (), verbose=False)


def _elf64(build_id: bytes | None, interp: bool = True, e_type: int = 3) -> bytes:
    """A minimal little-endian ELF64 program: header, program headers, a build-id note."""
    phoff, phnum = 64, 2
    note_off = phoff + phnum * 56
    note = b""
    if build_id is not None:
        padding = b"\0" * (-len(build_id) % 4)
        note = struct.pack("<III", 4, len(build_id), 3) + b"GNU\0" + build_id + padding
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", e_type, 183, 1, 0, phoff, 0, 0, 64, 56, phnum, 0, 0, 0)
    ph_interp = struct.pack("<IIQQQQQQ", 3 if interp else 1, 4, 0, 0, 0, 0, 0, 1)
    ph_note = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    return header + ph_interp + ph_note + note


def test_the_build_id_and_machine_of_a_program() -> None:
    found = elfid.identify(_elf64(bytes.fromhex("096484a43e61")))
    assert found == elfid.Program(183, "096484a43e61", True)
    assert elfid.identify(_elf64(None)) == elfid.Program(183, "", True)
    assert elfid.identify(_elf64(b"\1\2", interp=False)) is None  # a shared library
    assert elfid.identify(_elf64(b"\1\2", interp=False, e_type=2)) == elfid.Program(
        183, "0102", False
    )
    assert elfid.identify(b"#!/bin/sh\n" + b"\0" * 60) is None
    assert elfid.identify(_elf64(b"\1")[:40]) is None


def test_modes_and_where_they_come_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARMROOT_ACCEL", raising=False)
    assert accel_mode(None) == "auto"
    assert accel_mode(None, configured="twins") == "twins"
    assert accel_mode("clang", configured="twins") == "clang"
    assert accel_mode("twins", no_accel=True) == "none"
    assert package_mode() == "twins"
    monkeypatch.setenv("ARMROOT_ACCEL", "none")
    assert accel_mode(None) == "none"
    assert package_mode() == "none"
    monkeypatch.setenv("ARMROOT_ACCEL", "clang")
    assert package_mode() == "none"  # clang has nothing to add to maintainer scripts
    monkeypatch.setenv("ARMROOT_ACCEL", "fast")
    with pytest.raises(UsageError, match="unknown ARMROOT_ACCEL mode 'fast'"):
        accel_mode(None)


def test_which_kernels_give_a_session_its_own_binfmt_misc() -> None:
    assert binfmt.kernel_version("6.18.44-fc-v669") == (6, 18)
    assert binfmt.kernel_version("6.7.0") == (6, 7)
    assert binfmt.kernel_version("garbage") == (0, 0)
    assert binfmt.own_instances("6.7.0")
    assert not binfmt.own_instances("6.6.30-rt")
    assert not binfmt.own_instances("5.15.0-91-generic")


def test_the_sessions_ids_are_armroots_own() -> None:
    assert identity_map("         0          0 4294967295\n") == "0 0 4294967295\n"
    rootless = "         0       1000          1\n         1     100000      65536\n"
    assert identity_map(rootless) == "0 0 1\n1 1 65536\n"


def test_a_twins_session_binds_the_cache_and_registers_its_own_handlers() -> None:
    found = TwinSet("k", "trees/l/ld.so", "sets/k/lib", (MAKE, GCC), (), "p/lto.so", True)
    emulator = twin_session.Emulator(
        "aarch64", 183, b"\x7fELF", b"\xff\xff", "/usr/bin/qemu-aarch64-static"
    )
    accel = twin_session.session(
        found, "/cache/twins", "/shim/armroot-twin", "/shim/uname.so", (emulator,), "aarch64",
        "aarch64-linux-gnu", "14", verbose=False,
    )  # fmt: skip
    assert accel.user_namespace
    assert accel.env == ()
    assert Bind("/cache/twins", "/run/armroot/twins/cache", readonly=True) in accel.ops
    binds = [op for op in accel.ops if isinstance(op, Bind)]
    assert all(op.readonly and op.target.startswith("/run/armroot/") for op in binds)
    assert all(op.target.startswith("/run/") for op in accel.ops if isinstance(op, File))
    handlers = [op for op in accel.ops if isinstance(op, Binfmt)]
    assert handlers == [
        Binfmt(
            "/run/armroot/twins/binfmt_misc",
            (("armroot-aarch64", "7f454c46", "ffff", "/run/armroot/twins/armroot-twin", "POCF"),),
        )
    ]
    assert accel.ops[-1] == handlers[0]  # registered last, once its interpreter is bound
    table_file = next(
        op for op in accel.ops if isinstance(op, File) and op.target.endswith("table")
    )
    assert "qemu\t183\t/run/armroot/twins/qemu-aarch64-static" in table_file.content


def test_a_twin_set_survives_its_json() -> None:
    found = TwinSet("k", "l", "d", (MAKE, GCC), (Missing("sed", "gone"),))
    assert TwinSet.from_json(found.to_json()) == found
