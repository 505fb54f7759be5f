"""Which amd64 packages twin which of the root's installed packages, and what they need to
run. Pure: over the root's dpkg status and the archive's amd64 Packages index.

A twin is the amd64 build of the same source at the same version (a binNMU's +bN is a
rebuild, not another version). The root's own compilers (``gcc-14-aarch64-linux-gnu``,
Source gcc-14) are twinned by Debian's cross compilers of the same name (Source
gcc-14-cross), built from that very gcc source: their ``Built-Using: gcc-14 (= V)`` must
name the root's version.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from armroot.twins.deb822 import Package

# The programs configure scripts, Makefiles and maintainer scripts live on (their packages).
TOOLS = (
    "make",
    "cmake",
    "ninja-build",
    "pkgconf",
    "pkgconf-bin",
    "dash",
    "bash",
    "coreutils",
    "sed",
    "grep",
    "gawk",
    "mawk",
    "m4",
    "diffutils",
    "findutils",
    "patch",
    "tar",
    "gzip",
    "xz-utils",
    "bzip2",
)
# Packages whose architecture is compiled into their programs (dpkg's and apt's own is the
# machine's: what they install, how they resolve), twinned only in the programs named here:
# dpkg-deb packs and unpacks .debs (dpkg runs it for every package it unpacks) and never
# asks; apt's download methods fetch, verify and decompress what apt tells them to; apt-get
# takes the architecture from its configuration, APT::Architecture (whose default is the
# one it was built for): its twin is given the root's (table.APT_ARCHITECTURE). dpkg and
# the rest of these packages stay emulated.
SOME_PROGRAMS = {
    "dpkg": ("usr/bin/dpkg-deb",),
    "apt": ("usr/lib/apt/methods/", "usr/bin/apt-get"),
}
# The root's compiler packages, for its GNU triple: gcc-14-aarch64-linux-gnu and so on.
COMPILER = re.compile(r"^(?:gcc|g\+\+|cpp|gfortran)-(?P<major>\d+)-(?P<triple>[a-z0-9_-]+)$")
# What a twin may bring to run: the amd64 libraries it links (never the -cross target
# libraries: the twin compilers use the root's own).
SUPPORT = re.compile(r"^(?:lib[a-z0-9+.-]+|zlib1g|gcc-\d+(?:-[a-z0-9_-]+)?-base|binutils-common)$")


class Twin(NamedTuple):
    root: Package  # installed in the root
    twin: Package  # amd64, from the archive


class Missing(NamedTuple):
    package: str
    reason: str


class Choice(NamedTuple):
    twins: tuple[Twin, ...]
    support: tuple[Package, ...]  # libraries the twins need
    missing: tuple[Missing, ...]


def _wanted(installed: dict[str, Package], triple: str) -> list[Package]:
    wanted = [installed[name] for name in (*TOOLS, *SOME_PROGRAMS) if name in installed]
    for name in sorted(installed):
        match = COMPILER.match(name)
        if match and match["triple"] == triple:
            wanted.append(installed[name])
    if f"binutils-{triple}" in installed:
        wanted.append(installed[f"binutils-{triple}"])
    return wanted


def _same_build(root: Package, offer: Package) -> bool:
    if offer.arch != "amd64":
        return False
    if (offer.source, offer.source_version) == (root.source, root.source_version):
        return True
    # Debian's cross compilers: another source package, built from the root's gcc source.
    return COMPILER.match(root.name) is not None and (root.source, root.source_version) in (
        offer.built_using
    )


def choose(installed: dict[str, Package], index: dict[str, list[Package]], triple: str) -> Choice:
    """The twins of the root's build tools and compilers, the libraries they need, and what
    has no twin (with the reason, for people)."""
    twins: list[Twin] = []
    missing: list[Missing] = []
    for root in _wanted(installed, triple):
        offers = index.get(root.name, [])
        same = [o for o in offers if _same_build(root, o)]
        if same:
            twins.append(Twin(root, same[0]))
        elif offers:
            have = ", ".join(sorted({o.version for o in offers}))
            missing.append(
                Missing(root.name, f"the archive has {have} for amd64, not {root.version}")
            )
        else:
            missing.append(Missing(root.name, "the archive has no amd64 build"))
    return Choice(tuple(twins), _support([t.twin for t in twins], index), tuple(missing))


def _support(twins: list[Package], index: dict[str, list[Package]]) -> tuple[Package, ...]:
    """The closure of the twins' library dependencies in the amd64 index."""
    chosen = {p.name for p in twins}
    found: dict[str, Package] = {}
    pending = [d for p in twins for d in p.depends]
    while pending:
        name = pending.pop()
        if name in found or name in chosen or not SUPPORT.match(name) or name.endswith("-cross"):
            continue
        offers = [o for o in index.get(name, []) if o.arch in ("amd64", "all")]
        if not offers:
            continue
        found[name] = offers[0]
        pending += offers[0].depends
    return tuple(found[name] for name in sorted(found))
