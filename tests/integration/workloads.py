"""Real source code from the Debian archive, pinned by sha256 and cached (bench.md W1/W2)."""

from __future__ import annotations

import fcntl
import hashlib
import tarfile
import urllib.request
from pathlib import Path

FMT_URL = "http://deb.debian.org/debian/pool/main/f/fmtlib/fmtlib_9.1.0+ds1.orig.tar.gz"
FMT_SHA256 = "84ce1c2d0be3a9863935137969dcec6970125caac032f82474640bfc81463583"


def fetch_pinned(url: str, sha256: str, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / url.rsplit("/", 1)[-1]
    with open(cache / ".lock-sources", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            partial = target.with_suffix(".partial")
            with urllib.request.urlopen(url, timeout=120) as response, partial.open("wb") as f:
                f.write(response.read())
            partial.rename(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != sha256:
        target.unlink()
        raise AssertionError(f"{url}: sha256 {digest}, expected {sha256}")
    return target


def unpack_fmt(tarball: Path, into: Path) -> Path:
    """fmt's source tree at ``into``/fmt (the top directory renamed)."""
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    source = into / "fmtlib-9.1.0+ds1"
    source.rename(into / "fmt")
    return into / "fmt"
