"""The shim's configuration: which names it answers to (cc, gcc, c++, g++, ar, ranlib, ld.lld,
cmake ...), the native command line of each kind of tool, and the arguments that send an
invocation to the root's own gcc instead. Pure; read by shim.c (its header is the format).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from armroot.accel.layout import (
    BIN_INSIDE,
    CMAKE_INSIDE,
    CMAKE_TOOLS,
    HOST_LIB_INSIDE,
    PRELOAD_INSIDE,
    ZIG_INSIDE,
)

# Arguments that only gcc understands (or that must give gcc's exact answer): such an
# invocation goes to the root's gcc without trying the native compiler.
GCC_ONLY_EXACT = (
    "-wrapper",
    "--coverage",
    "-fprofile-arcs",
    "-ftest-coverage",
    "assembler",  # -x assembler: GNU as syntax is gcc's
    "assembler-with-cpp",
)
GCC_ONLY_PREFIX = (
    "-fplugin",
    "-specs=",
    "--specs=",
    "-fdump-",
    "-fopt-info",
    "-flto",
    "-fprofile-",
    "-fauto-profile",
    "-print-",
    "--print-",
    "-dump",  # -dumpversion, -dumpmachine, -dumpspecs: gcc's own answer
    "-xassembler",
)
GCC_ONLY_SUFFIX = ("=native", ".s", ".S", ".sx")
# Target defaults a caller's own -march= or -mcpu= replaces (shim.c leaves them out then).
ARCH_DEFAULTS = ("-march=", "-mcpu=", "-mtune=")


class Tool(NamedTuple):
    name: str  # what the build calls
    kind: str  # cc, c++, ar, ranlib, ld.lld
    fallback: str | None  # the root's own program, for compiler drivers


def tools(triple: str, gcc_version: str, in_root: Callable[[str], bool]) -> tuple[Tool, ...]:
    """The names the shim answers to. Compiler names only where the root has that compiler
    (its fallback); ar, ranlib and ld.lld always."""
    major = gcc_version.split(".")[0]
    found: list[Tool] = []
    for kind, base in (("cc", "gcc"), ("c++", "g++")):
        generic = ("cc",) if kind == "cc" else ("c++",)
        names = (*generic, base, f"{base}-{major}", f"{triple}-{base}", f"{triple}-{base}-{major}")
        for name in names:
            path = f"/usr/bin/{name}"
            if in_root(path):
                found.append(Tool(name, kind, path))
    for name in ("ar", "ranlib"):
        found += [Tool(name, name, None), Tool(f"{triple}-{name}", name, None)]
    found.append(Tool("ld.lld", "ld.lld", None))
    return tuple(found)


def linker(triple: str) -> tuple[str, ...]:
    """How the native compiler links. 64-bit: the native lld. 32-bit ARM: the root's own ld
    (under QEMU), because lld keeps the first object's ARM build attributes instead of
    merging them: a program with ARMv7 code linked against ARMv5 crt files would claim
    ARMv5, and the artifact check against the board (a Pi Zero cannot run ARMv7) would be
    fooled. The root's ld merges them as it does for gcc."""
    if triple.startswith("arm"):
        return ("-fuse-ld=bfd", "--ld-path=/usr/bin/ld")
    return ("-fuse-ld=lld", f"--ld-path={BIN_INSIDE}/ld.lld")


def commands(triple: str, flags: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each kind of tool's native command line, before the caller's arguments."""
    zig = f"{ZIG_INSIDE}/zig"
    common = (
        f"--target={triple}",
        "--sysroot=/",
        # gcc's headers and crt files from /usr/lib/gcc, not through a merged-/usr root's /lib
        # link: a make dependency written /lib/gcc/T/N/../../../../include/... means
        # /include/... to CMake, which does not exist, and every object is made again.
        "--gcc-toolchain=/usr",
        "-resource-dir",
        f"{ZIG_INSIDE}/lib",
        *linker(triple),
        "-Qunused-arguments",  # gcc is silent about link flags when only compiling
        # clang's DWARF 5 (.debug_str_offsets) is more than dwz knows, and debhelper runs
        # dwz on every package it builds: DWARF 4 unless the caller asks (-gdwarf-5).
        "-fdebug-default-version=4",
        # gcc links with a build-id (Debian's is configured so); dh_strip needs one for the
        # -dbgsym packages, and the twins' handler knows programs by it.
        "-Wl,--build-id=sha1",
        "-Werror=ignored-optimization-argument",  # a gcc -f flag clang would ignore: use gcc
        *flags,
    )
    return {
        "raw": (zig, "clang"),  # what a distributed compile runs, here and on helpers
        "cc": (zig, "clang", "--driver-mode=gcc", *common),
        "c++": (zig, "clang", "--driver-mode=g++", *common),
        "ar": (zig, "ar"),
        "ranlib": (zig, "ranlib"),
        "ld.lld": (zig, "ld.lld"),
    }


class NativeCmakeParts(NamedTuple):
    """Host paths of a native cmake (armroot.accel.cmake) and what it must answer."""

    bin_dir: str  # x86_64 cmake, ctest, cpack
    host_lib: str  # the host's ld-linux-x86-64.so.2 and libraries
    preload: str  # libarmroot-uname.so
    share_name: str  # cmake-X.Y: the root's modules directory under /usr/share
    machine: str  # what uname -m says in the root (armv7l, aarch64 ...)


def cmake_commands() -> dict[str, tuple[str, ...]]:
    """cmake, ctest and cpack through the host's loader: its library path and preload are
    options, not environment variables, so nothing leaks to the programs cmake runs; argv0
    is where cmake finds its modules (../share/cmake-X.Y) and what it calls itself."""
    loader = f"{HOST_LIB_INSIDE}/ld-linux-x86-64.so.2"
    return {
        tool: (
            loader,
            "--library-path",
            HOST_LIB_INSIDE,
            "--preload",
            PRELOAD_INSIDE,
            "--argv0",
            f"{CMAKE_INSIDE}/bin/{tool}",
            f"{CMAKE_INSIDE}/native/{tool}",
        )
        for tool in CMAKE_TOOLS
    }


def config_text(
    triple: str,
    flags: tuple[str, ...],
    tool_list: tuple[Tool, ...],
    verbose: bool,
    native_cmake: bool = False,
) -> str:
    """The shim's configuration (format: shim.c's header)."""
    for word in (triple, *flags):
        if any(c in word for c in "\t\n\0"):
            raise ValueError(f"a tab, newline or NUL in {word!r}")
    kinds = commands(triple, flags) | (cmake_commands() if native_cmake else {})
    lines = [f"verbose\t{1 if verbose else 0}"]
    lines += [f"tool\t{t.name}\t{t.kind}\t{t.fallback or '-'}" for t in tool_list]
    lines += ["\t".join(("kind", k, *cmd)) for k, cmd in kinds.items()]
    lines += [f"gcc-only-exact\t{a}" for a in GCC_ONLY_EXACT]
    lines += [f"gcc-only-prefix\t{a}" for a in GCC_ONLY_PREFIX]
    lines += [f"gcc-only-suffix\t{a}" for a in GCC_ONLY_SUFFIX]
    lines += [f"arch-default\t{f}" for f in flags if f.startswith(ARCH_DEFAULTS)]
    return "\n".join(lines) + "\n"


def helper_config(zig: str, name: str) -> str:
    """The shim's configuration on an armroot helper (armroot.distribute): ``name`` runs this
    machine's zig clang, bare; every target flag comes in the compile's own arguments."""
    for word in (zig, name):
        if any(c in word for c in "\t\n\0"):
            raise ValueError(f"a tab, newline or NUL in {word!r}")
    return f"verbose\t0\ntool\t{name}\traw\t-\nkind\traw\t{zig}\tclang\n"
