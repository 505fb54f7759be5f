"""What the native compiler must be told to produce what the root's gcc produces. Pure.

The root's gcc is asked once (:data:`PROBE_SCRIPT`, run inside the root); its answer is parsed
into a :class:`Target`: the GNU triple and the flags gcc's driver passes to cc1 by default
(-march with its FPU extension, -mfloat-abi, -mthumb/-marm, distribution defines such as
Debian's 64-bit time_t on armhf, hardening defaults), translated into clang's spelling. The
translation is then checked: clang's predefined macros for the ABI (:data:`ABI_MACROS`) must
equal gcc's, or the env is not accelerated. A board profile's CPU replaces the root's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from armroot.rootfs.boards import Board

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


# Which way of reading a target stored Targets were made by: a new one reads them anew.
TARGET_VERSION = 2  # 2: the sysroot's driver defaults made explicit (sysroot_flags)


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
        """The stored target, or None for anything else (it is then asked again)."""
        if not isinstance(data, dict):
            return None
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


# What clang's driver decides from the GCC installation it finds in the sysroot, which a
# helper (armroot.distribute: its sysroot is its own /) does not have: the target features,
# as the flags that ask for them. The root's gcc defaults to the same (gcc >= 10, aarch64).
SYSROOT_FEATURES = {"+outline-atomics": "-moutline-atomics"}


def sysroot_flags(driver_output: str) -> tuple[str, ...]:
    """The flags that make the driver's sysroot-dependent choices explicit, from its
    ``-###`` output (the cc1 command line, each argument quoted)."""
    words = [w.strip('"') for w in driver_output.split()]
    found = [
        SYSROOT_FEATURES[words[i + 1]]
        for i, w in enumerate(words[:-1])
        if w == "-target-feature" and words[i + 1] in SYSROOT_FEATURES
    ]
    return tuple(dict.fromkeys(found))
