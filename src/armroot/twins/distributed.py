"""The twin compilers a distributed build (armroot.distribute) names and a helper serves:
an env's gcc and g++ drivers (Debian's cross drivers of the root's gcc source version)
with the cc1, cc1plus and as they run, by a name that is the same on a client and a helper
exactly when all of those programs are. Pure: from a twin set, names, the handler's
per-request file and the helper's little scripts.

A helper compiles what a client preprocessed (distcc sends the ``.i``): the driver, the
compiler proper and the assembler are all a compile needs there. The client keeps what
reads its root (preprocessing: the root's headers; linking: its libraries and crt files).
"""

from __future__ import annotations

import hashlib
import shlex
from typing import NamedTuple

from armroot.twins import table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.twins.prepare import TwinSet

PREFIX = "armroot-"
# The drivers that distribute, and the language of the probe a client sends each.
DRIVERS = {"gcc": "c", "g++": "c++"}


class TwinCompiler(NamedTuple):
    """One of an env's twin drivers as a distributed compile names it."""

    name: str  # armroot-gcc-<digest>, armroot-g++-<digest>
    language: str  # the probe's: c, c++
    triple: str
    major: str
    driver: table.Program
    parts: tuple[tuple[str, table.Program], ...]  # (cc1 | cc1plus | as, its program)
    offload: bool  # the root's gcc is configured with offloading (its specs say so)

    @property
    def shown(self) -> str:
        """The root's name for the driver (``aarch64-linux-gnu-g++-14``)."""
        return self.driver.root_path.rsplit("/", 1)[-1]


def _digest(words: list[str]) -> str:
    return hashlib.sha256("\n".join(words).encode()).hexdigest()[:16]


def of(twin_set: TwinSet) -> tuple[TwinCompiler, ...]:
    """The env's distributable twin compilers: each gcc or g++ driver whose cc1 (and
    cc1plus for g++) and assembler have twins too."""
    by_path = {p.root_path: p for p in twin_set.programs}
    offload = any(p.offload for p in twin_set.programs)
    found: list[TwinCompiler] = []
    for program in twin_set.programs:
        match = table.DRIVER.match(program.root_path) if program.driver else None
        if match is None:
            continue
        triple, major = match["triple"], match["major"]
        kind = program.root_path[len(f"usr/bin/{triple}-") :].rsplit("-", 1)[0]
        if kind not in DRIVERS:
            continue
        parts = []
        for tool, rel in (
            ("cc1", f"usr/libexec/gcc/{triple}/{major}/cc1"),
            ("cc1plus", f"usr/libexec/gcc/{triple}/{major}/cc1plus"),
            ("as", f"usr/bin/{triple}-as"),
        ):
            if rel in by_path:
                parts.append((tool, by_path[rel]))
        tools = {t for t, _ in parts}
        if not {"cc1", "as"} <= tools or (kind == "g++" and "cc1plus" not in tools):
            continue
        words = [triple, major, str(offload)]
        for p in (program, *(p for _, p in parts)):
            words += [p.root_path, p.build_id, p.twin_path, str(p.size), p.offload]
        name = f"{PREFIX}{kind}-{_digest(words)}"
        found.append(
            TwinCompiler(name, DRIVERS[kind], triple, major, program, tuple(parts), offload)
        )
    return tuple(sorted(found, key=lambda c: c.name))


# A compile's arguments that keep it on this machine: what reads or writes files here
# beyond the source and the object (dependency files are made here anyway, by the
# preprocessor), what loads code or runs programs of this machine, libraries (where the
# root's gcc records offloading options for -lm), and what is not a compile to an object.
LOCAL_EXACT = (
    "-E",
    "-S",
    "-M",
    "-MM",
    "--coverage",
    "-ftest-coverage",
    "-fstack-usage",
    "-gsplit-dwarf",
    "-wrapper",
    "-aux-info",
    "-x",
)
LOCAL_PREFIX = (
    "-l",
    "-fplugin",
    "-specs",
    "--specs",
    "-B",
    "@",
    "-save-temps",
    "-fprofile-",
    "-fauto-profile",
    "-fdump-",
    "-fcallgraph-info",
    "-fcompare-debug",
    "-print-",
    "--print-",
)
LOCAL_SUFFIX = ("=native",)


def handler_lines(drivers: tuple[tuple[str, ...], ...], prefix: tuple[str, ...]) -> str:
    """A distributing session's file for the twin handler (format: accel/twin.c): which
    drivers (build-id, name, shown) send their compiles through ``prefix`` (the host's
    distcc) and by which name, and the arguments that keep a compile here."""
    lines = ["\t".join(("distribute", *d, *prefix)) for d in drivers]
    lines += [f"local-exact\t{a}" for a in LOCAL_EXACT]
    lines += [f"local-prefix\t{a}" for a in LOCAL_PREFIX]
    lines += [f"local-suffix\t{a}" for a in LOCAL_SUFFIX]
    for line in lines:
        if "\n" in line or "\0" in line:
            raise ValueError(f"a newline or NUL in {line!r}")
    return "\n".join(lines) + "\n"


def files(compiler: TwinCompiler) -> tuple[str, ...]:
    """The twin cache's files (relative) a helper needs for ``compiler``, beside the set's
    loader and libraries."""
    return (compiler.driver.twin_path, *(p.twin_path for _, p in compiler.parts))


# What a helper refuses from a client (distccd runs whatever arguments it is sent): what
# runs or loads programs of the helper's, or writes files where the client says.
REFUSED = (
    "-wrapper",
    "-fplugin*",
    "-specs*",
    "--specs*",
    "-B*",
    "@*",
    "-fdump-*",
    "-save-temps*",
    "-fprofile-*",
    "-fauto-profile*",
    "-fcallgraph-info*",
    "-aux-info*",
    "-dumpdir*",
    "-dumpbase*",
    "--coverage",
    "-ftest-coverage",
    "-M*",
)
REFUSE = (
    'for a in "$@"; do case $a in '
    + "|".join(REFUSED)
    + ') echo "armroot helper: $a is not accepted from a client" >&2; exit 1;; esac; done\n'
)


class HelperPaths(NamedTuple):
    """Where a helper keeps its copy of the twins (absolute)."""

    cache: str  # holds the files of :func:`files` at their relative paths
    loader: str
    libdir: str
    specs: str  # the cross drivers' specs (accel/twin_session.py's, for the same bytes)
    nowhere: str  # an empty directory: the driver's GCC_EXEC_PREFIX


def scripts(compiler: TwinCompiler, at: HelperPaths, tools_dir: str) -> dict[str, str]:
    """The helper's programs for ``compiler``: the name distccd runs (its command list's
    entry), and in ``tools_dir`` the cc1, cc1plus and as the driver finds there (-B), each
    the twin under its own loader and libraries (nothing ARM runs on a helper)."""

    def run(twin_path: str, argv0: str) -> str:
        words = (at.loader, "--inhibit-cache", "--library-path", at.libdir, "--argv0")
        quoted = " ".join(shlex.quote(w) for w in words)
        return f"#!/bin/sh\nexec {quoted} {argv0} {shlex.quote(f'{at.cache}/{twin_path}')} "

    # The driver's own search paths lead nowhere (GCC_EXEC_PREFIX: an empty directory), so
    # it runs only the programs given to it, never a cross compiler the helper may have.
    driver = run(compiler.driver.twin_path, shlex.quote(compiler.shown))
    driver = driver.replace(
        "#!/bin/sh\n",
        f"#!/bin/sh\n{REFUSE}export GCC_EXEC_PREFIX={shlex.quote(at.nowhere + '/')}\n",
    )
    found = {
        compiler.name: driver
        + f"{shlex.quote('-specs=' + at.specs)} {shlex.quote('-B' + tools_dir + '/')} "
        + '"$@"\n'
    }
    for tool, program in compiler.parts:
        found[f"{tools_dir}/{tool}"] = run(program.twin_path, '"$0"') + '"$@"\n'
    return found
