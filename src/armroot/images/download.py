"""Download a file into the cache: resumable, verified before use, keyed by its sha256.

Layout under the cache home::

    downloads/SHA256/FILENAME   verified files (never a partial or unverified one)
    downloads/index.json        URL -> sha256 of what was verified for it
    partial/KEY-FILENAME.part   an interrupted download, resumed next time
    .lock                       flock held while a download is verified or the cache cleaned
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, cast

from armroot import log
from armroot.errors import SourceError, disk_full
from armroot.store.envs import cache_home
from armroot.store.tree import safe_remove

CHUNK = 1 << 20
TIMEOUT = 60
_HEX = {"sha256": 64}
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Expected(NamedTuple):
    """What a download must hash to, or (``check``) the check the whole file must pass, such
    as a signature's. ``value`` may be empty only with ``unverified`` (an explicit user
    choice) or a ``check``."""

    algorithm: str
    value: str
    source: str  # where the value came from, for messages
    unverified: bool = False
    check: Callable[[Path], None] | None = None  # raises an ArmrootError if the file fails


class Cached(NamedTuple):
    path: Path
    sha256: str
    url: str
    downloaded: bool  # False when it came from the cache


def filename(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name)
    return name if name.strip(".") else "download"  # never "", "." or "..": a file's name


def _open(url: str, start: int = 0) -> http.client.HTTPResponse:
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "armroot"})
        if start:
            request.add_header("Range", f"bytes={start}-")
        return cast(http.client.HTTPResponse, urllib.request.urlopen(request, timeout=TIMEOUT))
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:
            raise _RangeRefused(f"{url}: range not satisfiable") from exc
        raise SourceError(
            f"{url}: the server answered {exc.code} {exc.reason}",
            "check the URL, or pick an entry from `armroot images`",
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(
            f"cannot reach {url}: {reason}",
            "check the network (and any proxy settings), then try again",
        ) from exc
    except ValueError as exc:  # no scheme, a bad host or port, a space or non-ASCII in it
        raise SourceError(f"cannot fetch {url}: not a usable URL ({exc})", "check the URL") from exc
    except http.client.HTTPException as exc:
        raise SourceError(
            f"cannot fetch {url}: the server's answer is not HTTP ({exc!r})",
            "check the URL, then try again",
        ) from exc


def fetch_bytes(url: str, limit: int = 1 << 16) -> bytes:
    """A small file, whole: one that is larger than ``limit`` is refused."""
    try:
        with _open(url) as response:
            body = bytes(response.read(limit + 1))
    except (OSError, http.client.HTTPException) as exc:
        raise SourceError(
            f"the download of {url} broke off ({exc})", "try again; check the network"
        ) from exc
    if len(body) > limit:
        raise SourceError(
            f"{url} is larger than {limit >> 10} KiB: not the small file expected",
            "check the URL (or the index override in the environment)",
        )
    return body


def fetch_text(url: str, limit: int = 1 << 16) -> str:
    return fetch_bytes(url, limit).decode("utf-8", "replace")


def parse_checksum_file(text: str, filename: str, algorithm: str) -> str:
    """The hash for ``filename`` in a sha256sum-style file (or a bare hash). Pure."""
    length = _HEX[algorithm]
    candidates: list[str] = []
    for line in text.splitlines():
        parts = line.strip().split()
        if not parts or not re.fullmatch(rf"[0-9a-fA-F]{{{length}}}", parts[0]):
            continue
        named = parts[1].lstrip("*").rsplit("/", 1)[-1] if len(parts) > 1 else ""
        if named == filename:
            return parts[0].lower()
        candidates.append(parts[0].lower())
    if len(candidates) == 1:
        return candidates[0]
    raise SourceError(
        f"no {algorithm} for {filename} in its checksum file",
        "the upstream checksum file did not name this file",
    )


class _Index:
    def __init__(self, root: Path) -> None:
        self.path = root / "index.json"

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict):
            return {}
        # only what write() puts there: a damaged entry is a download not cached
        return {k: v for k, v in data.items() if isinstance(v, str) and _SHA256.fullmatch(v)}

    def write(self, url: str, sha256: str) -> None:
        data = self.read()
        data[url] = sha256
        self._save(data)

    def forget(self, url: str) -> None:
        data = self.read()
        data.pop(url, None)
        self._save(data)

    def _save(self, data: dict[str, str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)


@contextlib.contextmanager
def _cache_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def cached(url: str, sha256: str | None = None) -> Cached | None:
    """The verified cached copy of ``url`` (or of ``sha256``), if there is one."""
    root = cache_home() / "downloads"
    digest = sha256 or _Index(root).read().get(url)
    if not digest or not _SHA256.fullmatch(digest):  # a folder's name: never a path
        return None
    path = root / digest / filename(url)
    if path.is_file():
        return Cached(path, digest, url, downloaded=False)
    folder = root / digest
    if folder.is_dir():
        for other in folder.iterdir():
            if other.is_file():
                return Cached(other, digest, url, downloaded=False)
    return None


def download(url: str, expected: Expected) -> Cached:
    """Download ``url`` (resuming a partial copy) and verify it against ``expected``.

    Callers look in the cache first (:func:`cached`)."""
    cache = cache_home()
    partial_dir = cache / "partial"
    partial_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    partial = partial_dir / f"{key}-{filename(url)}.part"
    with _cache_lock(cache):
        _transfer(url, partial)
        sha256, other = _hash(partial, expected.algorithm)
        actual = sha256 if expected.algorithm == "sha256" else other
        if expected.check is not None:
            try:
                expected.check(partial)
            except SourceError:  # the file failed (a host problem keeps it for next time)
                partial.unlink()
                raise
        elif not expected.unverified and actual != expected.value:
            partial.unlink()
            raise SourceError(
                f"{filename(url)} failed verification: expected {expected.algorithm} "
                f"{expected.value} ({expected.source}), got {actual}",
                "the download was deleted; try again, and if it fails again the file or the "
                "mirror is bad",
            )
        if expected.unverified:
            log.warn(f"{filename(url)} was NOT verified (sha256 {sha256})")
        target_dir = cache / "downloads" / sha256
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / filename(url)
        os.replace(partial, target)
        _Index(cache / "downloads").write(url, sha256)
    return Cached(target, sha256, url, downloaded=True)


class _RangeRefused(SourceError):
    """The server cannot resume from where the partial copy ends (416)."""


def _transfer(url: str, partial: Path) -> None:
    start = partial.stat().st_size if partial.exists() else 0
    try:
        response = _open(url, start)
    except _RangeRefused:
        # the partial copy is whole already (killed while checked) or longer than the
        # file is now (a "latest" file replaced): start over
        log.info("    the server cannot resume this copy; starting over")
        partial.unlink()
        start = 0
        response = _open(url, start)
    with response:
        status = getattr(response, "status", 200)
        if start and status != 206:
            log.info("    the server does not resume; starting over")
            start = 0
        elif start:
            log.info(f"    resuming at {start / 2**20:.1f} MiB")
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        mode = "ab" if start else "wb"
        with partial.open(mode) as out, log.progress(total_bytes=True) as bar:
            task = bar.add_task(f"downloading {filename(url)}", total=total, completed=start)
            received = start
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(task, completed=received)
            except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
                if disk_full(exc):
                    raise  # here, not the network: the CLI says where (launch.guarded)
                raise SourceError(
                    f"the download of {url} broke off after {received / 2**20:.1f} MiB ({exc})",
                    "run the same command again: it resumes where it stopped",
                ) from exc
        if total is not None and received < total:
            raise SourceError(
                f"the download of {url} broke off after {received / 2**20:.1f} of "
                f"{total / 2**20:.1f} MiB",
                "run the same command again: it resumes where it stopped",
            )


def sha256_of(path: Path) -> str:
    """The sha256 of a (large) file, with a progress display."""
    return _hash(path, "sha256")[0]


def _hash(path: Path, algorithm: str) -> tuple[str, str]:
    """(sha256, the other algorithm's digest or '') of ``path``."""
    sha = hashlib.sha256()
    other = hashlib.new(algorithm) if algorithm != "sha256" else None
    with path.open("rb") as f, log.progress(total_bytes=True) as bar:
        task = bar.add_task(f"verifying {path.name}", total=path.stat().st_size)
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            if other is not None:
                other.update(chunk)
            bar.advance(task, len(chunk))
    return sha.hexdigest(), other.hexdigest() if other is not None else ""


def drop(sha256: str) -> None:
    """Forget a cached download (one found bad after all) and the URLs that led to it."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(sha256)  # never the downloads folder itself, nor a path
    cache = cache_home()
    with _cache_lock(cache):
        folder = cache / "downloads" / sha256
        if folder.is_dir():
            safe_remove(folder)
        index = _Index(cache / "downloads")
        for url, digest in index.read().items():
            if digest == sha256:
                index.forget(url)


class CacheItem(NamedTuple):
    sha256: str
    name: str
    size: int
    urls: tuple[str, ...]


def list_cache() -> tuple[list[CacheItem], list[Path]]:
    """Verified downloads and partial ones."""
    root = cache_home()
    index = _Index(root / "downloads").read()
    items: list[CacheItem] = []
    downloads = root / "downloads"
    if downloads.is_dir():
        for folder in sorted(p for p in downloads.iterdir() if p.is_dir()):
            for f in sorted(folder.iterdir()):
                urls = tuple(u for u, d in index.items() if d == folder.name)
                items.append(CacheItem(folder.name, f.name, f.stat().st_size, urls))
    partial_dir = root / "partial"
    partials = sorted(partial_dir.glob("*.part")) if partial_dir.is_dir() else []
    return items, partials


def clean_cache() -> int:
    """Remove every download and partial download; returns the bytes freed."""
    root = cache_home()
    freed = 0
    with _cache_lock(root):
        for sub in ("downloads", "partial"):
            path = root / sub
            if path.is_dir():
                freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                safe_remove(path)
    return freed
