"""What the native compiler must be told to produce what the root's gcc produces. Pure.

The root's gcc is asked once (:data:`PROBE_SCRIPT`, run inside the root); its answer is parsed
into a :class:`Target`: the GNU triple and the flags gcc's driver passes to cc1 by default
(-march with its FPU extension, -mfloat-abi, -mthumb/-marm, distribution defines such as
Debian's 64-bit time_t on armhf, hardening defaults), translated into clang's spelling. The
translation is then checked: clang's predefined macros for the ABI (:data:`ABI_MACROS`) must
equal gcc's, or the env is not accelerated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from armroot.rootfs.boards import Board
from armroot.sandbox.ops import Bind, File, MountOp, Symlink

ZIG_INSIDE = "/run/armroot/zig"  # the toolchain's directory, bound read-only
ACCEL_INSIDE = "/run/armroot/accel"
BIN_INSIDE = f"{ACCEL_INSIDE}/bin"  # first on PATH
SHIM_INSIDE = f"{ACCEL_INSIDE}/armroot-shim"
CONFIG_INSIDE = f"{ACCEL_INSIDE}/config"  # read by the shim; keep in step with shim.c
# Native cmake (armroot.accel.cmake)
CMAKE_INSIDE = "/run/armroot/cmake"  # bin/ (the shim), native/ (x86_64 cmake), share/
HOST_LIB_INSIDE = "/run/armroot/host/lib"  # the host's loader and libraries, read-only
PRELOAD_INSIDE = f"{ACCEL_INSIDE}/libarmroot-uname.so"
MACHINE_INSIDE = f"{ACCEL_INSIDE}/machine"  # read by uname.c
CMAKE_TOOLS = ("cmake", "ctest", "cpack")

SEPARATOR = "---armroot-probe---"
# Run inside the root by its own sh: what gcc is, what it passes to cc1, what it predefines.
PROBE_SCRIPT = (
    "set -e; gcc -dumpmachine; gcc -dumpversion; "
    f"echo {SEPARATOR}; gcc -v -E -x c /dev/null -o /dev/null 2>&1; "
    f"echo {SEPARATOR}; gcc -dM -E -x c /dev/null"
)

# Macros that pin the ABI and the instruction set: clang's must equal gcc's.
ABI_MACROS = (
    "__arm__",
    "__aarch64__",
    "__ARMEL__",
    "__AARCH64EL__",
    "__ARM_ARCH",
    "__ARM_ARCH_PROFILE",
    "__ARM_ARCH_ISA_ARM",
    "__ARM_ARCH_ISA_THUMB",
    "__ARM_FP",
    "__ARM_NEON",
    "__ARM_PCS_VFP",
    "__SOFTFP__",
    "__thumb__",
    "__thumb2__",
    "__ARM_SIZEOF_WCHAR_T",
    "__ARM_SIZEOF_MINIMAL_ENUM",
    "__BYTE_ORDER__",
    "__CHAR_UNSIGNED__",
    "__SIZEOF_INT__",
    "__SIZEOF_LONG__",
    "__SIZEOF_LONG_LONG__",
    "__SIZEOF_POINTER__",
    "__SIZEOF_LONG_DOUBLE__",
    "__SIZEOF_WCHAR_T__",
    "__SIZEOF_SIZE_T__",
    "__LP64__",
    "__PIE__",
    "__PIC__",
    "_TIME_BITS",
    "_FILE_OFFSET_BITS",
)
# cc1 arguments that are gcc's own bookkeeping, not target defaults (with: takes a value).
_CC1_DROP_WITH_VALUE = frozenset(
    {"-imultilib", "-imultiarch", "-iprefix", "-o", "-dumpbase", "-dumpbase-ext", "-dumpdir"}
)
_CC1_DROP = frozenset({"-E", "-quiet", "-v", "/dev/null", "-mabi=lp64", "-mabi=aapcs-linux"})
_CC1_DROP_PREFIX = ("-mlibarch=", "-mtls-dialect=", "-auxbase")

# gcc -march=BASE+EXT for 32-bit ARM names its FPU by extension; clang wants -mfpu.
_FPU_BY_EXTENSION: dict[tuple[str, str], str] = {
    ("armv6", "fp"): "vfpv2",
    ("armv6k", "fp"): "vfpv2",
    ("armv6kz", "fp"): "vfpv2",
    ("armv6zk", "fp"): "vfpv2",
    ("armv6t2", "fp"): "vfpv2",
    ("armv7", "fp"): "vfpv3-d16",
    ("armv7-a", "fp"): "vfpv3-d16",
    ("armv7-a", "vfpv3-d16"): "vfpv3-d16",
    ("armv7-a", "vfpv3"): "vfpv3",
    ("armv7-a", "vfpv3-d16-fp16"): "vfpv3-d16-fp16",
    ("armv7-a", "vfpv3-fp16"): "vfpv3-fp16",
    ("armv7-a", "vfpv4-d16"): "vfpv4-d16",
    ("armv7-a", "vfpv4"): "vfpv4",
    ("armv7-a", "simd"): "neon",
    ("armv7-a", "neon"): "neon",
    ("armv7-a", "neon-fp16"): "neon-fp16",
    ("armv7-a", "neon-vfpv4"): "neon-vfpv4",
    ("armv7ve", "fp"): "vfpv4-d16",
    ("armv7ve", "vfpv4"): "vfpv4",
    ("armv7ve", "simd"): "neon-vfpv4",
    ("armv7ve", "neon-vfpv4"): "neon-vfpv4",
    ("armv8-a", "fp"): "fp-armv8",
    ("armv8-a", "simd"): "neon-fp-armv8",
    ("armv8-a", "crypto"): "crypto-neon-fp-armv8",
}

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


class Target(NamedTuple):
    """What the root's gcc targets, in clang's words; stored in the env's metadata."""

    triple: str
    gcc_version: str
    flags: tuple[str, ...]  # for clang, after --target
    gcc_key: str  # identifies the gcc it was read from; a changed gcc is asked again
    problem: str | None = None  # why this env cannot be accelerated, if it cannot

    def to_dict(self) -> dict[str, object]:
        return {
            "triple": self.triple,
            "gcc_version": self.gcc_version,
            "flags": list(self.flags),
            "gcc_key": self.gcc_key,
            "problem": self.problem,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Target | None:
        try:
            flags = data["flags"]
            problem = data.get("problem")
            if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
                return None
            return cls(
                str(data["triple"]),
                str(data["gcc_version"]),
                tuple(flags),
                str(data["gcc_key"]),
                None if problem is None else str(problem),
            )
        except KeyError:
            return None


class Probe(NamedTuple):
    """The root's gcc's answer to :data:`PROBE_SCRIPT`."""

    triple: str
    gcc_version: str
    cc1_args: tuple[str, ...]
    macros: dict[str, str]


class ProbeError(ValueError):
    """The probe's output is not what gcc prints."""


def parse_probe(text: str) -> Probe:
    parts = text.split(SEPARATOR + "\n")
    if len(parts) != 3:
        raise ProbeError("the root's gcc did not answer the probe")
    head = parts[0].split()
    if len(head) != 2:
        raise ProbeError("gcc -dumpmachine/-dumpversion gave no answer")
    triple, version = head
    cc1 = next((line for line in parts[1].splitlines() if "/cc1 " in line), None)
    if cc1 is None:
        raise ProbeError("gcc -v did not show its cc1 command")
    return Probe(triple, version, tuple(cc1.split()[1:]), parse_macros(parts[2]))


def parse_macros(text: str) -> dict[str, str]:
    macros: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split(None, 2)
        if len(words) >= 2 and words[0] == "#define" and "(" not in words[1]:
            macros[words[1]] = words[2] if len(words) == 3 else ""
    return macros


def _split_march(value: str) -> tuple[str, list[str]]:
    base, *extensions = value.split("+")
    return base, extensions


def clang_flags(triple: str, cc1_args: Iterable[str]) -> tuple[str, ...]:
    """gcc's default cc1 arguments -> the clang flags that ask for the same target.

    Raises ValueError for an -march extension this table cannot name an FPU for.
    """
    flags: list[str] = []
    args = list(cc1_args)
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in _CC1_DROP_WITH_VALUE:
            skip = True
            continue
        if arg in _CC1_DROP or arg.startswith(_CC1_DROP_PREFIX) or not arg.startswith("-"):
            continue
        if arg == "-D" or arg == "-U":  # the value in the next word
            if i + 1 < len(args):
                flags.append(arg + args[i + 1])
            skip = True
            continue
        flags.append(arg)
    if triple.startswith("arm"):
        flags = _fpu_from_march(flags)
    return tuple(flags)


def _fpu_from_march(flags: list[str]) -> list[str]:
    march = next((f for f in flags if f.startswith("-march=")), None)
    if march is None:
        return flags
    base, extensions = _split_march(march.removeprefix("-march="))
    if not extensions:
        return flags
    out = [f for f in flags if f != march]
    out.append(f"-march={base}")
    if any(f.startswith("-mfpu=") for f in flags):
        return out
    fpus = [_FPU_BY_EXTENSION.get((base, ext)) for ext in extensions if ext != "nofp"]
    if None in fpus:
        raise ValueError(f"no clang FPU for -march={march.removeprefix('-march=')}")
    if fpus:
        out.append(f"-mfpu={fpus[-1]}")
    return out


def _value(text: str) -> str:
    """A macro's value in one spelling: 12, 0xc, 12U and 'A' compare by what they mean."""
    text = text.strip()
    if len(text) == 3 and text[0] == text[2] == "'":
        return str(ord(text[1]))
    stripped = text.rstrip("uUlL")
    try:
        return str(int(stripped, 0))
    except ValueError:
        return text


def compare_macros(
    gcc: dict[str, str], clang: dict[str, str], names: Iterable[str] = ABI_MACROS
) -> str | None:
    """None when they agree on every macro of ``names``; else what differs, for people."""
    for name in names:
        ours, theirs = clang.get(name), gcc.get(name)
        if (ours is None) != (theirs is None) or (
            ours is not None and theirs is not None and _value(ours) != _value(theirs)
        ):
            gcc_says = f"{name}={theirs}" if theirs is not None else f"no {name}"
            clang_says = f"{name}={ours}" if ours is not None else f"no {name}"
            return (
                f"the native compiler would predefine {clang_says} where the root's gcc "
                f"has {gcc_says}"
            )
    return None


# A board profile's CPU for the native compiler (32-bit, 64-bit); the float ABI stays the root's.
_BOARD_CPU: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "arm1176": (("-mcpu=arm1176jzf-s", "-mfpu=vfp"), None),
    "cortex-a7": (("-mcpu=cortex-a7", "-mfpu=neon-vfpv4"), None),
    "cortex-a53": (("-mcpu=cortex-a53", "-mfpu=neon-fp-armv8"), ("-mcpu=cortex-a53",)),
    "cortex-a72": (("-mcpu=cortex-a72", "-mfpu=neon-fp-armv8"), ("-mcpu=cortex-a72",)),
    "cortex-a76": (("-mcpu=cortex-a76", "-mfpu=neon-fp-armv8"), ("-mcpu=cortex-a76",)),
}


def board_cpu(board: Board) -> str:
    """The board's CPU model, by the 64-bit QEMU name (or the 32-bit one when it has none)."""
    return board.qemu_cpu_64 or board.qemu_cpu_32


def with_board(flags: tuple[str, ...], board: Board | None, sixty_four: bool) -> tuple[str, ...]:
    """The target flags with the board's CPU in place of the root's -march/-mcpu/-mfpu."""
    if board is None:
        return flags
    cpu32, cpu64 = _BOARD_CPU[board_cpu(board)]
    cpu = cpu64 if sixty_four else cpu32
    if cpu is None:
        return flags
    kept = tuple(f for f in flags if not f.startswith(("-march=", "-mcpu=", "-mtune=", "-mfpu=")))
    return (*kept, *cpu)


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
        "-resource-dir",
        f"{ZIG_INSIDE}/lib",
        *linker(triple),
        "-Qunused-arguments",  # gcc is silent about link flags when only compiling
        "-Werror=ignored-optimization-argument",  # a gcc -f flag clang would ignore: use gcc
        *flags,
    )
    return {
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


class SessionAccel(NamedTuple):
    """What a session needs for native compilers: mounts and environment."""

    ops: tuple[MountOp, ...]
    env: tuple[tuple[str, str], ...]


def session(
    zig_dir: str,
    shim: str,
    triple: str,
    flags: tuple[str, ...],
    tool_list: tuple[Tool, ...],
    verbose: bool,
    path: str,
    native_cmake: NativeCmakeParts | None = None,
) -> SessionAccel:
    """Mounts (all inside the session's /run tmpfs: nothing is written to the env) and the
    environment that put the native tools first."""
    if native_cmake is not None:
        tool_list = (*tool_list, *(Tool(t, t, None) for t in CMAKE_TOOLS))
    ops: list[MountOp] = [
        Bind(zig_dir, ZIG_INSIDE, readonly=True),
        Bind(shim, SHIM_INSIDE, readonly=True, recursive=False),
        File(CONFIG_INSIDE, config_text(triple, flags, tool_list, verbose, bool(native_cmake))),
    ]
    ops += [Symlink("../armroot-shim", f"{BIN_INSIDE}/{t.name}") for t in tool_list]
    if native_cmake is not None:
        n = native_cmake
        ops += [
            Bind(n.host_lib, HOST_LIB_INSIDE, readonly=True),
            Bind(n.bin_dir, f"{CMAKE_INSIDE}/native", readonly=True),
            Bind(n.preload, PRELOAD_INSIDE, readonly=True, recursive=False),
            File(MACHINE_INSIDE, n.machine + "\n"),
            Symlink(f"/usr/share/{n.share_name}", f"{CMAKE_INSIDE}/share/{n.share_name}"),
        ]
        # Files, not symlinks: cmake resolves where it runs from to find its modules.
        ops += [
            Bind(shim, f"{CMAKE_INSIDE}/bin/{t}", readonly=True, recursive=False)
            for t in CMAKE_TOOLS
        ]
    names = {t.name for t in tool_list}
    env = [("PATH", f"{BIN_INSIDE}:{path}")]
    env += [
        (var, f"{BIN_INSIDE}/{name}")
        for var, name in (("CC", "cc"), ("CXX", "c++"))
        if name in names
    ]
    env += [("AR", f"{BIN_INSIDE}/ar"), ("RANLIB", f"{BIN_INSIDE}/ranlib")]
    return SessionAccel(tuple(ops), tuple(env))
