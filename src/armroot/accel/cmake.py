"""A native cmake for accelerated sessions: where the time of a small CMake build goes.

The root's cmake runs under QEMU: its configure run and the `cmake -E` helpers the Makefile
generator calls for every target cost more than compiling a small project natively. This
module supplies Kitware's x86_64 build of *the root's exact cmake version* (the PyPI
``cmake`` wheel, downloaded once into the cache) to run natively inside the root:

- it runs with the host's own dynamic loader and libraries (bound read-only at
  /run/armroot/host/lib; no x86_64 library is ever put into the root), started through the
  shim as ``ld.so --library-path ... --preload libarmroot-uname.so --argv0
  /run/armroot/cmake/bin/cmake .../native/cmake``: nothing reaches the environment of the
  programs cmake runs;
- its CMAKE_ROOT is /run/armroot/cmake/share/cmake-X.Y, a symlink to the root's own
  /usr/share/cmake-X.Y: the root's modules, distribution patches included;
- uname(2) answers with the machine the root's programs see (``uname.c``), so
  CMAKE_HOST_SYSTEM_PROCESSOR is what the emulated cmake finds.

Without an exact version match (or without network for the first download) the root's own
cmake is used, as before.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import NamedTuple

from armroot import log
from armroot.accel.layout import DPKG_STATUS, PACMAN_LOCAL
from armroot.accel.toolchain import Unavailable, cache_lock
from armroot.rootfs.paths import resolve_in_root

TOOLS = ("cmake", "ctest", "cpack")
HOST_LOADER = "/lib64/ld-linux-x86-64.so.2"  # the x86_64 psABI's fixed path


class NativeCmake(NamedTuple):
    version: str  # 3.31.6
    bin_dir: str  # host directory with x86_64 cmake, ctest, cpack
    host_lib: str  # host directory with ld-linux-x86-64.so.2 and the libraries they need

    @property
    def share_name(self) -> str:
        """The modules directory's name, cmake-MAJOR.MINOR."""
        major, minor = self.version.split(".")[:2]
        return f"cmake-{major}.{minor}"


def _upstream(version: str) -> str:
    """3.31.6-2 -> 3.31.6; 1:3.25.1-1 -> 3.25.1 (epoch and packaging revision dropped)."""
    return version.split(":", 1)[-1].rsplit("-", 1)[0]


def dpkg_version(status: str, package: str) -> str | None:
    """The installed version of ``package`` in a dpkg status file's text."""
    start = status.find(f"\nPackage: {package}\n")
    if start < 0 and status.startswith(f"Package: {package}\n"):
        start = 0
    if start < 0:
        return None
    end = status.find("\n\n", start + 1)
    stanza = status[start : end if end >= 0 else len(status)]
    if "Status: install ok installed" not in stanza:
        return None
    found = re.search(r"^Version: (\S+)$", stanza, re.MULTILINE)
    return found.group(1) if found else None


def root_cmake_version(rootfs: Path) -> str | None:
    """The upstream version of the root's cmake (dpkg or pacman), if it has one."""
    status = resolve_in_root(rootfs, DPKG_STATUS)
    version: str | None = None
    if status.is_file():
        version = dpkg_version(status.read_text(errors="replace"), "cmake")
    else:
        local = resolve_in_root(rootfs, PACMAN_LOCAL)
        if local.is_dir():
            entry = next((p for p in local.glob("cmake-[0-9]*") if p.is_dir()), None)
            if entry is not None:
                version = entry.name.removeprefix("cmake-")
    if version is None:
        return None
    upstream = _upstream(version)
    return upstream if re.fullmatch(r"\d+\.\d+\.\d+", upstream) else None


def host_lib() -> str:
    loader = os.path.realpath(HOST_LOADER)
    if not os.path.isfile(loader):
        raise Unavailable(f"this host has no {HOST_LOADER}", "native cmake needs a glibc host")
    return os.path.dirname(loader)


RETRY_AFTER = 24 * 3600  # a failed download is tried again a day later, not every session


def fetch(version: str, cache: Path) -> str:
    """The x86_64 cmake, ctest and cpack of ``version`` (the PyPI wheel's), cached."""
    target = cache / "accel" / f"cmake-{version}"
    if all((target / tool).is_file() for tool in TOOLS):
        return str(target)
    failed = target.parent / f"cmake-{version}.failed"
    try:
        if time.time() - failed.stat().st_mtime < RETRY_AFTER:
            raise Unavailable(
                f"cmake {version} for x86_64 could not be downloaded earlier "
                f"({failed.read_text().strip()})",
                f"the root's own cmake is used; remove {failed} to try again now",
                quiet=True,
            )
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    with cache_lock(target.parent):  # concurrent first sessions download it once
        if not all((target / tool).is_file() for tool in TOOLS):
            _download(version, target, failed)
    return str(target)


def _download(version: str, target: Path, failed: Path) -> None:
    work = target.parent / f".cmake-{version}-{os.getpid()}"
    work.mkdir(exist_ok=True)
    try:
        from armroot.host import programs

        pip = [sys.executable, "-m", "pip", "download", f"cmake=={version}", "--no-deps"]
        pip += ["--only-binary=:all:", "--platform", "manylinux2014_x86_64"]
        pip += ["--python-version", f"{sys.version_info.major}.{sys.version_info.minor}"]
        pip += ["--retries", "1", "--timeout", "30", "-d", str(work), "-q"]
        with log.step(f"Fetching cmake {version} for x86_64 (once) to run CMake natively"):
            done = programs.run(pip, check=False, capture=True)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no message"])[-1]
            failed.write_text(first + "\n")
            raise Unavailable(
                f"could not download cmake {version} for native builds: {first}",
                "the root's own cmake is used; check the network to PyPI",
            )
        wheel = next(work.glob("cmake-*.whl"))
        import zipfile

        out = work / "bin"
        out.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for tool in TOOLS:
                (out / tool).write_bytes(archive.read(f"cmake/data/bin/{tool}"))
                (out / tool).chmod(0o755)
        os.replace(out, target)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def prepare(rootfs: Path, cache: Path) -> NativeCmake | None:
    """A native cmake matching the root's, or None (the root has no cmake, or its modules
    directory is not where cmake looks)."""
    version = root_cmake_version(rootfs)
    if version is None:
        return None
    native = NativeCmake(version, "", "")
    if not resolve_in_root(rootfs, f"/usr/share/{native.share_name}").is_dir():
        return None
    return native._replace(bin_dir=fetch(version, cache), host_lib=host_lib())
