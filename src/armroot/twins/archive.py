"""Twins from the root's own archive: its Release file verified by gpgv against the keyrings
the root trusts, the amd64 Packages index checked against the Release file's SHA256, each
.deb against the index's, then unpacked into the cache. Nothing is used that a check did not
pass, and nothing is written into the env.

Cache (under the cache home)::

    twins/index/<key>/Release        the verified Release text (key: URI and suite)
    twins/index/<key>/Packages-<c>   the verified amd64 index of component c
    twins/debs/<sha256>.deb          verified packages
    twins/trees/<sha256>/            a package's files (renamed into place when whole), and
                                     its md5sums (from the .deb's control member) as
                                     .armroot-md5sums: what a twin set checks the files by
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import lzma
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from armroot import log
from armroot.errors import ArmrootError, SourceError, disk_full
from armroot.host import openpgp, programs
from armroot.rootfs.paths import resolve_in_root
from armroot.store.tree import safe_remove
from armroot.twins.deb822 import Package, index, release_sha256
from armroot.twins.sources import AptSource

ARCH = "amd64"
# Where a Debian-family root keeps the keys apt trusts (when a source names none).
TRUSTED = ("/etc/apt/trusted.gpg", "/etc/apt/trusted.gpg.d")
TIMEOUT = 60.0
KEY_SUFFIXES = (".gpg", ".pgp", ".asc")
MD5SUMS = ".armroot-md5sums"  # in a tree: the package's own md5sums


class TwinUnavailable(ArmrootError):
    """The archive cannot give a verified twin (no network, a bad signature, a mismatch)."""


def _key(source: AptSource) -> str:
    return hashlib.sha256(f"{source.uri} {source.suite}".encode()).hexdigest()[:16]


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One armroot at a time fetches into ``directory`` (others wait, then find it done)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _download(url: str, target: Path, sha256: str | None = None) -> None:
    """``url`` into ``target`` through a partial file, renamed only when whole (and, given
    ``sha256``, only when it has it): a killed armroot never leaves a file that looks done."""
    for left in target.parent.glob(f".{target.name}.partial-*"):  # a killed armroot's
        left.unlink(missing_ok=True)  # (callers hold the directory's lock)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, partial.open("wb") as out:
            while block := response.read(1 << 20):
                digest.update(block)
                out.write(block)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        partial.unlink(missing_ok=True)
        if disk_full(exc):
            raise  # the machine's, not the archive's (accel.setup says so)
        reason = getattr(exc, "reason", None) or exc
        raise TwinUnavailable(f"cannot fetch {url}: {reason}", "check the network") from exc
    if sha256 is not None and digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise TwinUnavailable(
            f"{url} does not match the archive's signed index (sha256 {digest.hexdigest()}, "
            f"expected {sha256})",
            "a mirror serving stale or altered files; try again later or use another mirror",
        )
    os.replace(partial, target)


def keyrings(root: Path, source: AptSource) -> list[Path]:
    """Host paths of the keyrings the root trusts for ``source`` (resolved inside the root)."""
    if source.signed_by:
        candidates = [resolve_in_root(root, path) for path in source.signed_by]
    else:
        candidates = []
        for inside in TRUSTED:
            path = resolve_in_root(root, inside)
            if path.is_dir():
                candidates += sorted(p for p in path.iterdir() if p.suffix in KEY_SUFFIXES)
            elif path.is_file():
                candidates.append(path)
    return [p for p in candidates if p.is_file()]


def verified_release(root: Path, source: AptSource, cache: Path) -> str:
    """The suite's Release text, its InRelease signature checked by gpgv with the root's
    keyrings (fetched again each time: a newer Release means newer indexes)."""
    directory = cache / "twins" / "index" / _key(source)
    rings = keyrings(root, source)
    if not rings:
        raise TwinUnavailable(
            f"the root trusts no keyring for {source.uri} {source.suite}",
            "install its archive keyring in the env",
        )
    with locked(directory):
        signed = directory / "InRelease"
        _download(f"{source.uri}/dists/{source.suite}/InRelease", signed)
        plain = directory / "Release"
        trusted = directory / "trusted.gpg"  # the root's keys, binary, in one keyring
        try:
            trusted.write_bytes(b"".join(openpgp.binary(r.read_bytes()) for r in rings))
        except SourceError as exc:  # a damaged .asc in the root
            raise TwinUnavailable(exc.message, exc.hint) from exc
        gpgv = programs.require_program("gpgv")
        argv = [gpgv, "--quiet", f"--keyring={trusted}"]
        done = programs.run([*argv, "--output", str(plain), str(signed)], check=False, capture=True)
        if done.returncode != 0:
            plain.unlink(missing_ok=True)
            raise TwinUnavailable(
                f"the Release file of {source.uri} {source.suite} is not signed by a key the "
                f"root trusts ({(done.stderr.strip().splitlines() or ['gpgv failed'])[-1]})",
                "the env's archive keyring may be out of date: armroot upgrade ENV",
            )
        return plain.read_text()


def amd64_index(source: AptSource, release: str, cache: Path) -> dict[str, list[Package]]:
    """The amd64 Packages of every component of ``source``, each checked against the
    signed Release file (fetched by hash, so a mirror updating meanwhile cannot mix them)."""
    listed = release_sha256(release)
    directory = cache / "twins" / "index" / _key(source)
    found: dict[str, list[Package]] = {}
    with locked(directory):
        for component in source.components:
            path = f"{component}/binary-{ARCH}/Packages.xz"
            if path not in listed:
                continue
            sha256, _ = listed[path]
            target = directory / f"Packages-{component}-{sha256[:16]}.xz"
            if not target.is_file() or _sha256(target) != sha256:
                by_hash = f"{source.uri}/dists/{source.suite}/{component}/binary-{ARCH}"
                _download(f"{by_hash}/by-hash/SHA256/{sha256}", target, sha256)
            for name, offers in index(lzma.decompress(target.read_bytes()).decode()).items():
                found.setdefault(name, []).extend(offers)
    if not found:
        raise TwinUnavailable(
            f"{source.uri} {source.suite} has no {ARCH} index", "twins need the amd64 archive"
        )
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _checked(package: Package) -> None:
    """The index's word for a package, before it names a cache directory or a URL: a
    sha256 of 64 hex digits (an empty or odd one would name the trees directory itself, or
    another place), and a Filename below the archive's root."""
    parts = PurePosixPath(package.filename).parts
    if (
        not _SHA256.fullmatch(package.sha256)
        or not parts
        or package.filename.startswith("/")
        or ".." in parts
        or not package.filename.isprintable()
        or any(c.isspace() for c in package.filename)
    ):
        raise TwinUnavailable(
            f"the archive's index lists {package.name} {package.version} with an unusable "
            f"sha256 or Filename ({package.sha256!r}, {package.filename!r})",
            "a damaged or hostile mirror; use another mirror",
        )


def tree(source: AptSource, package: Package, cache: Path) -> Path:
    """The package's files, unpacked from its verified .deb (fetched once)."""
    _checked(package)
    trees = cache / "twins" / "trees"
    done = trees / package.sha256
    if (done / MD5SUMS).is_file():
        return done
    debs = cache / "twins" / "debs"
    with locked(debs):
        if (done / MD5SUMS).is_file():  # another armroot made it while this one waited
            return done
        if done.exists():  # found altered by a twin set (its md5sums removed): made again
            safe_remove(done)
        deb = debs / f"{package.sha256}.deb"
        if not deb.is_file() or _sha256(deb) != package.sha256:
            log.debug(f"fetching {package.name} {package.version} ({package.size} bytes)")
            _download(f"{source.uri}/{package.filename}", deb, package.sha256)
        trees.mkdir(parents=True, exist_ok=True)
        for left in trees.glob(f".{package.sha256}.partial-*"):  # a killed armroot's
            safe_remove(left)
        partial = trees / f".{package.sha256}.partial-{os.getpid()}"
        partial.mkdir()
        try:
            unpack(deb, partial)
            os.rename(partial, done)
        except BaseException:
            safe_remove(partial)
            raise
    return done


def unpack(deb: Path, into: Path) -> None:
    """A .deb's data member into the directory ``into`` with libarchive, refusing names with
    `..`, absolute names and writes through symlinks."""
    import libarchive
    from libarchive import extract as lax

    flags = (
        lax.EXTRACT_SECURE_NODOTDOT
        | lax.EXTRACT_SECURE_NOABSOLUTEPATHS
        | lax.EXTRACT_SECURE_SYMLINKS
        | lax.EXTRACT_PERM
        | lax.EXTRACT_TIME
    )
    data = control = b""
    with libarchive.file_reader(str(deb)) as members:
        for member in members:
            if member.pathname.startswith("data.tar"):
                data = b"".join(member.get_blocks())
            elif member.pathname.startswith("control.tar"):
                control = b"".join(member.get_blocks())
    if not data:
        raise TwinUnavailable(f"{deb.name} has no data member", "fetch it again")
    sums = b""
    if control:
        with libarchive.memory_reader(control) as entries:
            for entry in entries:
                if entry.pathname in ("./md5sums", "md5sums"):
                    sums = b"".join(entry.get_blocks())
    (into / MD5SUMS).write_bytes(sums)
    cwd = os.getcwd()
    os.chdir(into)
    try:
        with libarchive.memory_reader(data) as entries:
            lax.extract_entries((e for e in entries if not (e.isdev or e.isfifo)), flags)
    finally:
        os.chdir(cwd)
