"""Which file of a twin package stands in for which file of the root's package, and how the
session's binfmt handler runs it. Pure.

A same-source twin has its programs at the root package's paths. Debian's cross compilers
keep their internals under ``gcc-cross`` (``/usr/libexec/gcc-cross/<triple>/N/cc1``) where
the root's compiler has ``gcc``; their drivers have the root's names
(``/usr/bin/<triple>-gcc-N``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Where programs live in a package (relative paths, as in dpkg's md5sums).
PROGRAM_DIRS = ("usr/bin/", "usr/sbin/", "bin/", "sbin/", "usr/libexec/", "usr/lib/gcc-cross/")
# Where the amd64 libraries of twins and their support packages are.
LIBRARY_DIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu")
LOADER = "ld-linux-x86-64.so.2"
CROSS_DIRS = (
    ("usr/libexec/gcc-cross/", "usr/libexec/gcc/"),
    ("usr/lib/gcc-cross/", "usr/lib/gcc/"),
)
# The compiler drivers among the root's programs (the ones given GCC_EXEC_PREFIX and specs).
DRIVER = re.compile(r"^usr/bin/(?P<triple>[a-z0-9_-]+)-(?:gcc|g\+\+|cpp|gfortran)-(?P<major>\d+)$")
# Where the root's gcc is installed: the cross driver, told this, uses the root's own cc1
# (its twin, through the handler), headers, libgcc and crt files.
GCC_EXEC_PREFIX = "/usr/lib/gcc/"


class Program(NamedTuple):
    """One of the root's programs and its twin."""

    build_id: str  # of the root's file: what the handler looks up
    root_path: str  # inside the root, relative ("usr/bin/make")
    twin_path: str  # relative to the twin cache ("trees/<sha256>/usr/bin/make")
    package: str  # the root's package
    driver: bool = False  # a gcc driver (told where the root's gcc lives)
    offload: str = ""  # the root's gcc records -lm for offloading: "args", "link", "link-fortran"
    size: int = 0  # of the twin's file (a set whose twin files changed is made again)


def root_path(twin_rel: str, cross: bool) -> str:
    """The root package's path for the twin package's file ``twin_rel``."""
    if cross:
        for twin_dir, root_dir in CROSS_DIRS:
            if twin_rel.startswith(twin_dir):
                return root_dir + twin_rel[len(twin_dir) :]
    return twin_rel


def is_program_path(rel: str, only: tuple[str, ...] = ()) -> bool:
    """Whether the twin package's file ``rel`` is a program to twin: in a program directory,
    or, for a package twinned in some programs (``only``: paths and directories), one of them."""
    return rel.startswith(only or PROGRAM_DIRS)


# What a gcc configured with offloading has in its driver (and a cross compiler has not).
OFFLOAD_MARK = b"-foffload-options=-l_GCC_m"


def offload(root_path: str, driver_bytes: bytes) -> str:
    """How the twin of the root's driver ``root_path`` must add the offloading options its
    gcc records for -lm and -lgfortran: "" (the root's gcc does not), "args" (where they are
    given), "link" (also when g++ links: it adds -lm), "link-fortran" (gfortran adds
    -lgfortran -lm)."""
    if OFFLOAD_MARK not in driver_bytes:
        return ""
    if re.search(r"-gfortran-\d+$", root_path):
        return "link-fortran"
    return "link" if re.search(r"-g\+\+-\d+$", root_path) else "args"


def md5sums(text: str) -> dict[str, str]:
    """dpkg's ``<package>.md5sums``: relative path -> md5."""
    found = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        if digest and path:
            found[path.strip()] = digest.strip()
    return found


class Words(NamedTuple):
    """Inside the session: where the twin cache, loader, libraries and preload are."""

    cache: str  # the twin cache, bound read-only
    loader: str  # relative to cache
    libdir: str  # relative to cache
    preload: str  # uname(2) as the board (accel/uname.c)
    specs: str  # the C++ include specs for the cross drivers
    plugin_dir: str  # holds the cross compiler's liblto_plugin.so ("" if none)
    dpkg_arch: str = ""  # the root's Debian architecture, for apt-get's twin ("": emulated)


# apt-get's twin is told the root's architecture (its configuration's default is the one it
# was built for: amd64), before the caller's arguments; without it, apt-get stays emulated.
APT_ARCHITECTURE = {"usr/bin/apt-get"}


def command(program: Program, at: Words) -> tuple[str, ...]:
    """The native command the handler runs for ``program`` (before the caller's arguments):
    the twin's own loader, its libraries and the uname preload as loader options, so none
    of them reaches what the twin starts; {argv0} is the caller's argv[0]."""
    words: tuple[str, ...] = (
        f"{at.cache}/{at.loader}",
        "--inhibit-cache",
        "--library-path",
        f"{at.cache}/{at.libdir}",
        "--preload",
        at.preload,
        "--argv0",
        "{argv0}",
        f"{at.cache}/{program.twin_path}",
    )
    if program.root_path in APT_ARCHITECTURE:
        words += ("-o", f"APT::Architecture={at.dpkg_arch}")
    driver = DRIVER.match(program.root_path) if program.driver else None
    if driver is not None:
        # The cross driver's own programs (cc1, collect2 ...) are under gcc-cross, which the
        # root has not: it is told the root's, whose twins the handler runs. The linker
        # plugin is the one file it loads rather than runs: the twin's, found first.
        words += (f"-specs={at.specs}",)
        if at.plugin_dir:
            words += (f"-B{at.plugin_dir}/",)
        words += (f"-B/usr/libexec/gcc/{driver['triple']}/{driver['major']}/",)
    return words


# A gcc driver's questions about itself: the root's own driver answers them (under QEMU), as
# its twin would name the cross compiler's configuration, paths and their order.
DRIVER_QUERIES_EXACT = (
    "--version",
    "-###",
    "--help",
    "--target-help",
    "-dumpspecs",
    "-dumpmachine",
    "-dumpversion",
    "-dumpfullversion",
)
DRIVER_QUERIES_PREFIX = ("-print-", "--print-", "--help=")
# ... and alone: `gcc -v` is a question; `gcc -v -c x.c` a compile, which the twin makes.
DRIVER_QUERIES_ALONE = ("-v",)


def environment(program: Program) -> tuple[str, ...]:
    """What the twin is started with besides the caller's environment."""
    return (f"GCC_EXEC_PREFIX={GCC_EXEC_PREFIX}",) if program.driver else ()


# What a gcc configured with offloading links into an OpenMP or OpenACC program (its specs'
# startfile and endfile); the cross compilers' specs lack them.
OFFLOAD_SPECS = (
    "*startfile:\n+ %{fopenacc|fopenmp:crtoffloadbegin%O%s}\n\n"
    "*endfile:\n+ %{fopenacc|fopenmp:crtoffloadend%O%s}\n\n"
)


def driver_specs(triple: str, major: str, offload: bool) -> str:
    """Specs for the cross drivers. The cross compiler looks for C++ headers where a cross
    sysroot has them; the root has them where its own g++ looks (and keeps local headers in
    /usr/local/include). A root gcc with offloading links its offload tables' crt files."""
    dirs = (
        f"/usr/include/c++/{major}",
        f"/usr/include/{triple}/c++/{major}",
        f"/usr/include/c++/{major}/backward",
    )
    isystem = " ".join(f"-isystem {d}" for d in dirs)
    return (
        "*cc1plus:\n"
        f"+ -nostdinc++ {isystem} -isystem /usr/local/include\n\n"
        "*cpp_unique_options:\n"
        "+ %{!nostdinc:-isystem /usr/local/include}\n\n"
    ) + (OFFLOAD_SPECS if offload else "")


def render(
    programs: tuple[Program, ...],
    at: Words,
    qemu: tuple[tuple[int, str], ...],
    verbose: bool,
) -> str:
    """The handler's table (format: accel/twin.c's header)."""
    lines = [f"verbose\t{1 if verbose else 0}"]
    lines += [f"qemu\t{machine}\t{path}" for machine, path in qemu]
    for program in programs:
        if program.root_path in APT_ARCHITECTURE and not at.dpkg_arch:
            continue  # no architecture to give it: emulated
        words = command(program, at)
        for word in words:
            if any(c in word for c in "\t\n\0"):
                raise ValueError(f"a tab, newline or NUL in {word!r}")
        lines.append("\t".join(("twin", program.build_id, *words)))
        lines += [f"env\t{program.build_id}\t{e}" for e in environment(program)]
        if program.offload:
            lines.append(f"offload-m\t{program.build_id}\t{program.offload}")
        if program.driver:
            lines += [f"emulate-exact\t{program.build_id}\t{a}" for a in DRIVER_QUERIES_EXACT]
            lines += [f"emulate-prefix\t{program.build_id}\t{a}" for a in DRIVER_QUERIES_PREFIX]
            lines += [f"emulate-alone\t{program.build_id}\t{a}" for a in DRIVER_QUERIES_ALONE]
    return "\n".join(lines) + "\n"
