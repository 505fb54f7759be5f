"""An env's twin set: for the root's installed build tools and compilers, the amd64 twins
fetched and verified (:mod:`armroot.twins.archive`), each of the root's programs matched to
its twin's file, and one directory of the twins' libraries. Made once per state of the
root's package database, kept in the cache; the env is only read.

    twins/sets/<key>/set.json   the set (key: the root's dpkg status and apt sources)
    twins/sets/<key>/lib/       links to the twins' amd64 libraries (the loader's path)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import NamedTuple

from armroot import log
from armroot.rootfs.paths import resolve_in_root
from armroot.store.tree import safe_remove
from armroot.twins import archive, deb822, elfid, select, sources, table
from armroot.twins.deb822 import Package

FORMAT = 7
STATUS = "var/lib/dpkg/status"
INFO = "var/lib/dpkg/info"


class TwinSet(NamedTuple):
    key: str
    loader: str  # relative to the twin cache
    libdir: str  # relative to the twin cache
    programs: tuple[table.Program, ...]
    missing: tuple[select.Missing, ...]
    plugin: str = ""  # the cross compiler's liblto_plugin.so, relative to the twin cache
    compiler: bool = False  # the root's gcc driver has a twin

    def to_json(self) -> str:
        data = self._asdict()
        data["programs"] = [p._asdict() for p in self.programs]
        data["missing"] = [m._asdict() for m in self.missing]
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TwinSet:
        """The set ``text`` holds; ValueError or TypeError for anything else (a field missing,
        extra, or of another type than :meth:`to_json` writes)."""
        data = json.loads(text)
        data["programs"] = tuple(table.Program(**p) for p in data["programs"])
        data["missing"] = tuple(select.Missing(**m) for m in data["missing"])
        found = cls(**data)
        if not (
            _typed(found, (str, str, str, tuple, tuple, str, bool))
            and all(_typed(p, (str, str, str, str, bool, str, int)) for p in found.programs)
            and all(_typed(m, (str, str)) for m in found.missing)
        ):
            raise TypeError("a field of the twin set is not of its type")
        return found


def _typed(record: tuple[object, ...], types: tuple[type, ...]) -> bool:
    return all(type(value) is kind for value, kind in zip(record, types, strict=True))


def _in_trees(rel: str) -> bool:
    """Whether ``rel`` (relative to the twin cache) names a file in one of its trees."""
    parts = rel.split("/")
    return len(parts) > 2 and parts[0] == "trees" and not {"", ".", ".."} & set(parts)


def apt_sources(root: Path) -> list[sources.AptSource]:
    """The root's apt sources (sources.list, sources.list.d/*.list and *.sources)."""
    found: list[sources.AptSource] = []
    main = resolve_in_root(root, "/etc/apt/sources.list")
    if main.is_file():
        found += sources.one_line(main.read_text(errors="replace"))
    parts = resolve_in_root(root, "/etc/apt/sources.list.d")
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list" and path.is_file():
                found += sources.one_line(path.read_text(errors="replace"))
            elif path.suffix == ".sources" and path.is_file():
                found += sources.deb822_sources(path.read_text(errors="replace"))
    return found


def set_key(root: Path) -> str:
    """What a twin set is made from: the root's package database and where it fetches."""
    digest = hashlib.sha256(f"twins {FORMAT}\0".encode())
    digest.update(resolve_in_root(root, "/" + STATUS).read_bytes())
    for source in apt_sources(root):
        digest.update(repr(tuple(source)).encode())
    return digest.hexdigest()[:24]


def cached(root: Path, cache: Path) -> TwinSet | None:
    """The env's twin set if it was made for the root as it is now (nothing fetched)."""
    try:
        key = set_key(root)
    except OSError:
        return None
    return _load(cache / "twins" / "sets" / key)


def _load(directory: Path) -> TwinSet | None:
    """The set kept in ``directory`` if it is that key's, naming files of the cache's trees
    that are still there as they were; None otherwise."""
    try:
        found = TwinSet.from_json((directory / "set.json").read_text())
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    paths = [found.loader, *([found.plugin] if found.plugin else [])]
    paths += [p.twin_path for p in found.programs]
    if (
        found.key != directory.name
        or found.libdir != f"sets/{found.key}/lib"
        or not all(_in_trees(p) for p in paths)
    ):
        return None  # another set's record, or one naming files out of the trees
    cache = directory.parent.parent
    if not os.path.lexists(cache / found.loader):
        return None  # the loader's tree removed from the cache: make the set again
    for program in found.programs:
        try:
            size = (cache / program.twin_path).stat().st_size
        except OSError:
            return None  # a tree removed from the cache: make the set again
        if size != program.size:
            log.warn(f"the cached twin {program.twin_path} was changed: fetching it again")
            tree = cache / "/".join(program.twin_path.split("/")[:2])
            (tree / archive.MD5SUMS).unlink(missing_ok=True)  # archive.tree makes it again
            return None
    return found


def prepare(root: Path, triple: str, cache: Path) -> TwinSet:
    """The env's twin set, made (fetched, verified, unpacked) if the cache has none for the
    root as it is now. Raises archive.TwinUnavailable when the archive cannot give it."""
    key = set_key(root)
    sets = cache / "twins" / "sets"
    done = sets / key
    found = _load(done)
    if found is not None:
        return found
    with archive.locked(sets):  # two first sessions make it once
        found = _load(done)
        if found is not None:
            return found
        for left in sets.glob(f".{key}.partial-*"):
            safe_remove(left)
        partial = sets / f".{key}.partial-{os.getpid()}"
        partial.mkdir()
        try:
            made = _make(root, triple, cache, key, partial)
            (partial / "set.json").write_text(made.to_json())
            if done.exists():
                safe_remove(done)  # an unusable set (its trees went): replaced whole
            os.rename(partial, done)
        except BaseException:
            safe_remove(partial)
            raise
    return made


def _offers(
    root: Path, cache: Path
) -> tuple[dict[str, list[Package]], dict[str, sources.AptSource]]:
    """Every amd64 package the root's sources offer, and which source offers each .deb."""
    offers: dict[str, list[Package]] = {}
    where: dict[str, sources.AptSource] = {}
    listed = apt_sources(root)
    if not listed:
        raise archive.TwinUnavailable(
            "the root names no apt source", "twins come from the root's own archive"
        )
    for source in listed:
        release = archive.verified_release(root, source, cache)
        for name, packages in archive.amd64_index(source, release, cache).items():
            offers.setdefault(name, []).extend(packages)
            for package in packages:
                where.setdefault(package.sha256, source)
    return offers, where


def _make(root: Path, triple: str, cache: Path, key: str, partial: Path) -> TwinSet:
    status = resolve_in_root(root, "/" + STATUS).read_text(errors="replace")
    installed = deb822.installed(status)
    offers, where = _offers(root, cache)
    choice = select.choose(installed, offers, triple)
    twin_cache = cache / "twins"
    for missing in choice.missing:
        log.warn(f"{missing.package} stays emulated: {missing.reason}")
    trees: dict[str, Path] = {}
    wanted = (*(t.twin for t in choice.twins), *choice.support)
    absent = [p for p in wanted if not (twin_cache / "trees" / p.sha256).is_dir()]
    if absent:
        total = sum(p.size for p in absent) >> 20
        with log.step(f"Fetching native twins ({len(absent)} packages, {total} MiB)"):
            for package in absent:
                archive.tree(where[package.sha256], package, cache)
    for package in wanted:
        trees[package.sha256] = _checked_tree(where[package.sha256], package, cache)
    libdir = partial / "lib"
    libdir.mkdir()
    loader = ""
    for package in (*choice.support, *(t.twin for t in choice.twins)):
        for sub in table.LIBRARY_DIRS:
            directory = trees[package.sha256] / sub
            if not directory.is_dir():
                continue
            for entry in sorted(directory.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    continue
                link = libdir / entry.name
                if not os.path.lexists(link):
                    os.symlink(os.path.relpath(entry, twin_cache / "sets" / key / "lib"), link)
                if entry.name == table.LOADER and not loader:
                    loader = str(entry.relative_to(twin_cache))
    if not loader:
        raise archive.TwinUnavailable(
            f"the archive's amd64 libc6 has no {table.LOADER}", "twins need the amd64 loader"
        )
    programs: list[table.Program] = []
    plugin = ""
    for twin in choice.twins:
        programs += _programs(root, twin, trees[twin.twin.sha256], twin_cache)
        if select.COMPILER.match(twin.root.name):
            tree = trees[twin.twin.sha256]
            for candidate in tree.glob("usr/libexec/gcc-cross/*/*/liblto_plugin.so"):
                plugin = str(candidate.relative_to(twin_cache))
    compiler = any(p.driver and "-gcc-" in p.root_path for p in programs)
    return TwinSet(
        key,
        loader,
        f"sets/{key}/lib",
        tuple(sorted(programs)),
        choice.missing,
        plugin,
        compiler,
    )


def _altered(tree: Path) -> str | None:
    """The first file of ``tree`` that is not what its package's md5sums say, if one is."""
    for rel, digest in table.md5sums((tree / archive.MD5SUMS).read_text()).items():
        path = tree / rel
        if path.is_symlink() or not path.is_file() or _md5(path) != digest:
            return rel
    return None


def _checked_tree(source: sources.AptSource, package: Package, cache: Path) -> Path:
    """The package's tree, each file checked against the package's md5sums; an altered tree
    is unpacked again from the verified .deb."""
    tree = archive.tree(source, package, cache)
    altered = _altered(tree)
    if altered is None:
        return tree
    log.warn(
        f"the cached twin {package.name} {package.version} was changed ({altered}): "
        "unpacking it again"
    )
    (tree / archive.MD5SUMS).unlink()
    tree = archive.tree(source, package, cache)
    altered = _altered(tree)
    if altered is not None:
        raise archive.TwinUnavailable(
            f"{package.name} {package.version} does not unpack to its own files ({altered})",
            "remove armroot's cache (twins/) and try again",
        )
    return tree


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _package_md5sums(root: Path, name: str) -> dict[str, str]:
    for candidate in (name, *(f"{name}:{a}" for a in ("arm64", "armhf", "armel"))):
        path = resolve_in_root(root, f"/{INFO}/{candidate}.md5sums")
        if path.is_file():
            return table.md5sums(path.read_text(errors="replace"))
    return {}


def _programs(root: Path, twin: select.Twin, tree: Path, twin_cache: Path) -> list[table.Program]:
    """The root package's programs that this twin package has, each checked to be the
    package's own file (dpkg's md5sum) before its build-id is recorded."""
    cross = twin.twin.source != twin.root.source
    sums = _package_md5sums(root, twin.root.name)
    only = select.SOME_PROGRAMS.get(twin.root.name, ())
    found = []
    for path in sorted(tree.rglob("*")):
        rel = str(path.relative_to(tree))
        if path.is_symlink() or not path.is_file() or not table.is_program_path(rel, only):
            continue
        native = elfid.read(str(path))
        if native is None or native.machine != 62:
            continue
        inside = table.root_path(rel, cross)
        if inside not in sums:
            continue
        mine = resolve_in_root(root, "/" + inside)
        program = elfid.read(str(mine))
        if program is None or not program.build_id or program.machine == 62:
            continue
        if _md5(mine) != sums[inside]:
            log.debug(f"/{inside} is not {twin.root.name}'s own file: it stays emulated")
            continue
        driver = table.DRIVER.match(inside) is not None
        offload = table.offload(inside, mine.read_bytes()) if driver else ""
        found.append(
            table.Program(
                program.build_id,
                inside,
                str(path.relative_to(twin_cache)),
                twin.root.name,
                driver,
                offload,
                path.stat().st_size,
            )
        )
    return found
