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


# Debian's fmt source drops the bundled Google Test that FMT_TEST=ON builds; this stands in
# for it (as upstream's test/gtest/CMakeLists.txt does), from Debian's googletest package.
FMT_GTEST_CMAKE = """\
set(GT /usr/src/googletest)
add_library(gtest STATIC ${GT}/googletest/src/gtest-all.cc ${GT}/googlemock/src/gmock-all.cc)
target_compile_definitions(gtest PUBLIC GTEST_HAS_STD_WSTRING=1)
target_include_directories(gtest SYSTEM PUBLIC ${GT}/googletest/include ${GT}/googlemock/include)
target_include_directories(gtest PRIVATE ${GT}/googletest ${GT}/googlemock)
find_package(Threads REQUIRED)
target_link_libraries(gtest PUBLIC Threads::Threads)
"""
# What FMT_TEST=ON needs in the root (googletest: sources only).
FMT_TEST_PACKAGES = ("googletest",)
# googletest 1.16 (trixie) needs C++14; fmt defaults to C++11.
FMT_TEST_CONFIGURE = ("-DFMT_TEST=ON", "-DFMT_DOC=OFF", "-DCMAKE_CXX_STANDARD=17")


def unpack_fmt(tarball: Path, into: Path, with_tests: bool = False) -> Path:
    """fmt's source tree at ``into``/fmt (the top directory renamed); ``with_tests`` adds the
    Google Test stand-in FMT_TEST=ON needs."""
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    source = into / "fmtlib-9.1.0+ds1"
    source.rename(into / "fmt")
    if with_tests:
        (into / "fmt/test/gtest").mkdir()
        (into / "fmt/test/gtest/CMakeLists.txt").write_text(FMT_GTEST_CMAKE)
    return into / "fmt"
