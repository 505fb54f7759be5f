"""The host side of native compilers: find zig, check it runs, build the shim (cached).

On every accelerated session's path: what only building the shim needs (subprocess, shutil)
is imported there.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from armroot.errors import HostError

ZIG_HINT = (
    "install it into armroot's Python environment (pip install 'ziglang==0.17.1'), set "
    "ARMROOT_ZIG to a static x86_64 zig, or pass --no-accel"
)
SHIM_FLAGS = (
    "-target",
    "x86_64-linux-none",
    "-nostdlib",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-stack-protector",
    "-Os",
)


class Unavailable(HostError):
    """Native tools cannot be used here; sessions use the root's own. ``quiet``: already
    reported once (shown only with --verbose)."""

    def __init__(self, message: str, hint: str = "", quiet: bool = False) -> None:
        super().__init__(message, hint)
        self.quiet = quiet


class Toolchain(NamedTuple):
    zig: str  # the static x86_64 zig binary
    directory: str  # its directory (with lib/: clang's resource headers, zig's own files)
    shim: str  # the built shim
    uname_preload: str  # the uname(2) override native build drivers load
    handler: str  # the binfmt handler that runs twins (twin.c)


def find_zig() -> str:
    """The zig binary: ARMROOT_ZIG, else the ``ziglang`` package's."""
    configured = os.environ.get("ARMROOT_ZIG")
    if configured:
        if not os.path.isfile(configured):
            raise Unavailable(f"ARMROOT_ZIG={configured} does not exist", ZIG_HINT)
        return os.path.realpath(configured)
    import importlib.util

    spec = importlib.util.find_spec("ziglang")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("native compilers need the ziglang package, which is missing", ZIG_HINT)
    zig = Path(next(iter(spec.submodule_search_locations))) / "zig"
    if not zig.is_file():
        raise Unavailable(f"the ziglang package has no zig binary ({zig})", ZIG_HINT)
    return str(zig.resolve())


DISTRIBUTED_PREFIX = "armroot-clang-"


def zig_digest(zig: str, cache: Path) -> str:
    """The sha256 of the zig binary, kept in ``cache`` by its path, inode, size, mtime and
    ctime (hashing it takes a fraction of a second; every planned session would pay it)."""
    import hashlib

    st = os.stat(zig)
    made = zlib.crc32(f"{os.path.realpath(zig)}\0{st.st_ino}\0{st.st_ctime_ns}".encode())
    kept = cache / "accel" / f"zig-{st.st_size}-{st.st_mtime_ns}-{made:08x}.sha256"
    try:
        text = kept.read_text().strip()
        if len(text) == 64:
            return text
    except OSError:
        pass
    digest = hashlib.sha256()
    with open(zig, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    found = digest.hexdigest()
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(f"{kept.name}.{os.getpid()}")
        partial.write_text(found + "\n")
        os.replace(partial, kept)
    except OSError:
        pass
    return found


def distributed_name(digest: str) -> str:
    """What a distributed compile calls the bare clang of the zig whose sha256 is ``digest``
    (armroot.distribute): the same name on the client and its helpers exactly when their
    zig is the same."""
    return f"{DISTRIBUTED_PREFIX}{digest[:16]}"


def check_host() -> None:
    machine = os.uname().machine.lower()
    if machine not in ("x86_64", "amd64"):
        raise Unavailable(
            f"native compilers are x86_64 programs; this host is {machine}",
            "on an ARM64 host, arm64 roots already run their gcc natively; 32-bit roots use "
            "QEMU's emulated gcc (or pass --no-accel to say so)",
        )


# What is built with zig from this package's sources: (source, output, extra flags).
PARTS = (
    ("shim.c", "armroot-shim", ("-static",)),
    ("uname.c", "libarmroot-uname.so", ("-shared", "-fPIC")),
    ("twin.c", "armroot-twin", ("-static",)),
)
HEADERS = ("freestanding.h",)  # what shim.c and twin.c include


def _source(name: str) -> bytes:
    return Path(__file__).with_name(name).read_bytes()


def prepare(cache: Path) -> Toolchain:
    """The toolchain, with the shim and the uname preload built into ``cache`` once per zig
    and per source."""
    check_host()
    zig = find_zig()
    st = os.stat(zig)
    if not st.st_mode & 0o111:
        raise Unavailable(f"{zig} is not executable", ZIG_HINT)
    sources = b"".join(_source(name) for name in (*HEADERS, *(p[0] for p in PARTS)))
    made_by = f"\0{zig}\0{st.st_size}\0{st.st_mtime_ns}\0{' '.join(SHIM_FLAGS)}".encode()
    key = f"{zlib.crc32(sources + made_by):08x}{len(sources):05x}"
    directory = cache / "accel" / f"shim-{key}"
    shim, preload, handler = (str(directory / output) for _, output, _ in PARTS)
    toolchain = Toolchain(zig, os.path.dirname(zig), shim, preload, handler)
    if all((directory / output).is_file() for _, output, _ in PARTS):
        return toolchain
    directory.mkdir(parents=True, exist_ok=True)
    with cache_lock(directory.parent):  # concurrent first sessions build it once
        if all((directory / output).is_file() for _, output, _ in PARTS):
            return toolchain
        _build_all(zig, directory)
    return toolchain


@contextlib.contextmanager
def cache_lock(directory: Path) -> Iterator[None]:
    """An exclusive flock on ``directory``/.lock, held for the ``with`` block."""
    import fcntl

    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build_all(zig: str, directory: Path) -> None:
    work = directory / f".build-{os.getpid()}"
    work.mkdir(exist_ok=True)
    for header in HEADERS:
        (work / header).write_bytes(_source(header))
    try:
        for name, output, extra in PARTS:
            _build(zig, work, name, output, extra)
        for _, output, _ in PARTS:
            os.replace(work / output, directory / output)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _build(zig: str, work: Path, name: str, output: str, extra: tuple[str, ...]) -> None:
    (work / name).write_bytes(_source(name))
    argv = [zig, "cc", *SHIM_FLAGS, *extra, "-o", str(work / output), str(work / name)]
    env = dict(os.environ, ZIG_GLOBAL_CACHE_DIR=str(work / "zig-cache"))
    env["ZIG_LOCAL_CACHE_DIR"] = env["ZIG_GLOBAL_CACHE_DIR"]
    from armroot.host import programs

    try:
        done = programs.run(argv, check=False, capture=True, env=env)
    except OSError as exc:
        raise Unavailable(f"{zig} cannot run here ({exc.strerror or exc})", ZIG_HINT) from exc
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise Unavailable(f"{zig} could not build armroot's compiler shim: {first}", ZIG_HINT)
    os.chmod(work / output, 0o755)
