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


# Debian's fmt source drops the bundled Google Test that FMT_TEST=ON builds; these stand in
# for upstream's test/gtest/CMakeLists.txt. The bench builds Google Test from the sources of
# Debian's googletest package, as upstream fmt builds its bundled copy (more C++ to compile).
FMT_GTEST_FROM_SOURCES = """\
set(GT /usr/src/googletest)
add_library(gtest STATIC ${GT}/googletest/src/gtest-all.cc ${GT}/googlemock/src/gmock-all.cc)
target_compile_definitions(gtest PUBLIC GTEST_HAS_STD_WSTRING=1)
target_include_directories(gtest SYSTEM PUBLIC ${GT}/googletest/include ${GT}/googlemock/include)
target_include_directories(gtest PRIVATE ${GT}/googletest ${GT}/googlemock)
find_package(Threads REQUIRED)
target_link_libraries(gtest PUBLIC Threads::Threads)
"""
FMT_GTEST_FROM_SOURCES_PACKAGES = ("googletest",)
# The tests link Debian's built Google Test (libgtest-dev, libgmock-dev): fmt itself is what
# they compile, which keeps the emulated builds within the suite's time.
FMT_GTEST_SYSTEM = """\
find_package(GTest REQUIRED)
add_library(gtest INTERFACE)
target_link_libraries(gtest INTERFACE GTest::gmock GTest::gtest)
"""
FMT_GTEST_SYSTEM_PACKAGES = ("libgtest-dev", "libgmock-dev")
# googletest 1.16 (trixie) needs C++14; fmt defaults to C++11.
FMT_TEST_CONFIGURE = ("-DFMT_TEST=ON", "-DFMT_DOC=OFF", "-DCMAKE_CXX_STANDARD=17")


def unpack_fmt(tarball: Path, into: Path, gtest: str | None = None) -> Path:
    """fmt's source tree at ``into``/fmt (the top directory renamed); ``gtest`` (one of the
    FMT_GTEST_* texts) stands in for the Google Test FMT_TEST=ON needs."""
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    source = into / "fmtlib-9.1.0+ds1"
    source.rename(into / "fmt")
    if gtest is not None:
        (into / "fmt/test/gtest").mkdir()
        (into / "fmt/test/gtest/CMakeLists.txt").write_text(gtest)
    return into / "fmt"


ZLIB_URL = "http://deb.debian.org/debian/pool/main/z/zlib/zlib_1.3.dfsg+really1.3.1.orig.tar.gz"
ZLIB_SHA256 = "60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb"


def unpack_zlib(tarball: Path, into: Path) -> Path:
    """zlib's source tree at ``into``/zlib (its shell configure script: bench.md W3)."""
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    (into / "zlib-1.3.1").rename(into / "zlib")
    return into / "zlib"


# A second C++ project for the twins' byte-for-byte test: tinyxml2 (CMake, a library and its
# own test program), Debian's source of trixie's 11.0.0+dfsg-1.
TINYXML2_URL = "http://deb.debian.org/debian/pool/main/t/tinyxml2/tinyxml2_11.0.0+dfsg.orig.tar.xz"
TINYXML2_SHA256 = "1346241d0891464c44ce6838527bdc616f96da308d128d6e9a6ec6987db2ac8a"


def unpack_tinyxml2(tarball: Path, into: Path) -> Path:
    """tinyxml2's source tree at ``into``/tinyxml2 (the top directory renamed)."""
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    [top] = into.glob("leethomason-tinyxml2-*")
    top.rename(into / "tinyxml2")
    return into / "tinyxml2"
