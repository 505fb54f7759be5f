"""W1-W3 and W6 of ../shared/guide/bench.md, five ways, one run: docs/benchmarks.md.

    sudo .venv/bin/python bench/compile.py ENV [--workloads W1,W2,W3,W6]
        [--contenders cross,classic,none,clang,twins] [--census]

ENV is an armroot env (armhf or arm64) with cmake and g++ (Debian's defaults); googletest is
installed into it when missing (W2 builds Google Test from its sources), and dpkg-dev and
debhelper for W6. The host needs the cross-compiler (g++-arm-linux-gnueabihf or
g++-aarch64-linux-gnu), googletest, dpkg-dev and debhelper for W6, and strace for --census
(apt-get install them; the harness says which are missing). The contenders:

- cross: the host's Debian cross-compiler (g++-arm-linux-gnueabihf / g++-aarch64-linux-gnu)
  and the host's cmake and make; the reference. Tests run through binfmt + QEMU with
  QEMU_LD_PREFIX pointing at the cross libraries. For W6, Debian's own cross build,
  `dpkg-buildpackage -a ARCH`, in a Debian trixie amd64 root with crossbuild-essential-ARCH,
  debhelper and libc6:ARCH (made once with mmdebstrap into CROSS_ROOTS; the same gcc as the
  env's); its tests run through binfmt + QEMU.
- classic: the seed recipe: `chroot` into the env's root with proc and /dev mounted, its own
  gcc, cmake and make under QEMU (in a private mount namespace, so nothing stays mounted).
- none, clang, twins: `armroot build --accel MODE` (W6: `armroot run --accel MODE --
  dpkg-buildpackage -b`): everything emulated; native clang for the root's gcc; the root's
  own programs through their twins.

Each workload is configure + build -j2 (+ its tests for W2, W3 and W6), on a fresh copy of
the source. Every contender's tests must pass, or its time is not a result. --census runs
W1 once more under strace (in the mode of --census-mode, default clang) and says where its
time goes, program by program.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from armroot.errors import ArmrootError
from armroot.store.envs import Store
from armroot.store.tree import safe_remove
from tests.integration.workloads import (
    FMT_GTEST_FROM_SOURCES,
    FMT_GTEST_FROM_SOURCES_PACKAGES,
    FMT_SHA256,
    FMT_TEST_CONFIGURE,
    FMT_URL,
    ZLIB_SHA256,
    ZLIB_URL,
    fetch_pinned,
    unpack_fmt,
    unpack_zlib,
)

ARMROOT = [sys.executable, "-m", "armroot"]
CACHE = Path("/var/cache/armroot-tests/sources")
CONTENDERS = ("cross", "classic", "none", "clang", "twins")
# W6: Debian's libogg 1.3.5-3 (trixie), built with dpkg-buildpackage -b (its tests included).
OGG = "http://deb.debian.org/debian/pool/main/libo/libogg/"
OGG_FILES = (
    (
        "libogg_1.3.5.orig.tar.xz",
        "c4d91be36fc8e54deae7575241e03f4211eb102afb3fc0775fbbc1b740016705",
    ),
    (
        "libogg_1.3.5-3.debian.tar.xz",
        "980cc7c95d72d2a9c56cf9d602b8296c6551528890f28fee6769b801ea0e54f3",
    ),
)
W6_PACKAGES = ("dpkg-dev", "debhelper")
CROSS_ROOTS = Path("/var/cache/armroot-tests/bench")


class Workload(NamedTuple):
    name: str
    title: str
    configure: str  # sh, with {src}, {build}, {cmake_extra}, {chost} filled in per contender
    build: str
    test: str  # "" for none


WORKLOADS = {
    "W1": Workload(
        "W1",
        "fmt 9.1.0 library: configure + build -j2",
        "cmake -S {src} -B {build} -DCMAKE_BUILD_TYPE=Release -DFMT_TEST=OFF -DFMT_DOC=OFF"
        " {cmake_extra}",
        "cmake --build {build} -- -j2",
        "",
    ),
    "W2": Workload(
        "W2",
        "fmt 9.1.0 with FMT_TEST=ON: configure + build -j2 + its 20 tests",
        "cmake -S {src} -B {build} -DCMAKE_BUILD_TYPE=Release "
        + " ".join(FMT_TEST_CONFIGURE)
        + " {cmake_extra}",
        "cmake --build {build} -- -j2",
        "cd {build} && ctest -j2 --output-on-failure",
    ),
    "W3": Workload(
        "W3",
        "zlib 1.3.1: its shell configure + make -j2 + make test",
        "cp -a {src}/. {build}/ && cd {build} && {chost} ./configure",
        "make -C {build} -j2",
        "make -C {build} test",
    ),
    "W6": Workload(
        "W6",
        "Debian's libogg 1.3.5-3: dpkg-buildpackage -b (configure, make -j2, its tests, dh)",
        "",
        "cd {src} && DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -b -uc -us {cross}",
        "",
    ),
}


class Result(NamedTuple):
    seconds: float
    ok: bool
    note: str


def _sources(workload: str, into: Path) -> Path:
    if workload == "W6":
        orig, debian = (fetch_pinned(OGG + name, sha, CACHE) for name, sha in OGG_FILES)
        subprocess.run(["tar", "-C", str(into), "-xJf", str(orig)], check=True)
        src = into / "libogg-1.3.5"
        subprocess.run(["tar", "-C", str(src), "-xJf", str(debian)], check=True)
        return src
    if workload == "W3":
        return unpack_zlib(fetch_pinned(ZLIB_URL, ZLIB_SHA256, CACHE), into)
    gtest = FMT_GTEST_FROM_SOURCES if workload == "W2" else None
    return unpack_fmt(fetch_pinned(FMT_URL, FMT_SHA256, CACHE), into, gtest)


def _script(
    w: Workload, src: str, build: str, cmake_extra: str = "", chost: str = "", cross: str = ""
) -> str:
    fill = {"src": shlex.quote(src), "build": shlex.quote(build)}
    fill.update(cmake_extra=cmake_extra, chost=chost, cross=cross)
    steps = [s for s in (w.configure, w.build, w.test) if s]
    return " && ".join(step.format(**fill) for step in steps)


def _timed(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Result:
    start = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    seconds = time.monotonic() - start
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return Result(seconds, code == 0, "" if code == 0 else f"exit {code}: {tail[0][:120]}")


def run_cross(w: Workload, work: Path, triple: str, qemu_arch: str) -> Result:
    src = _sources(w.name, work)
    build = work / "build"
    build.mkdir()
    toolchain = work / "cross.cmake"
    processor = "aarch64" if triple.startswith("aarch64") else "arm"
    toolchain.write_text(
        f"set(CMAKE_SYSTEM_NAME Linux)\nset(CMAKE_SYSTEM_PROCESSOR {processor})\n"
        f"set(CMAKE_C_COMPILER {triple}-gcc)\nset(CMAKE_CXX_COMPILER {triple}-g++)\n"
        f"set(CMAKE_FIND_ROOT_PATH /usr/{triple})\n"
        "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n"
    )
    script = _script(
        w, str(src), str(build), f"-DCMAKE_TOOLCHAIN_FILE={toolchain}", f"CHOST={triple}"
    )
    # The tests are ARM programs: binfmt runs them with QEMU, which finds the ARM loader and
    # libraries under QEMU_LD_PREFIX.
    env = dict(os.environ, QEMU_LD_PREFIX=f"/usr/{triple}")
    del qemu_arch
    return _timed(["sh", "-c", script], work / "log", env)


@contextmanager
def _bench_dir_in(root: Path) -> Iterator[Path]:
    """A fresh directory inside the env's root for the classic method's sources and build."""
    path = Path(tempfile.mkdtemp(prefix="bench-", dir=root / "tmp"))
    try:
        yield path
    finally:
        safe_remove(path)


def cross_root(arch: str) -> Path:
    """A Debian trixie amd64 root for Debian's cross build of ARCH packages (made once)."""
    root = CROSS_ROOTS / f"trixie-amd64-cross-{arch}"
    if (root / "usr/bin/dpkg-buildpackage").is_file():
        return root
    partial = root.with_name(root.name + ".partial")
    if partial.exists():
        safe_remove(partial)
    CROSS_ROOTS.mkdir(parents=True, exist_ok=True)
    include = f"crossbuild-essential-{arch},debhelper,libc6:{arch}"
    argv = ["mmdebstrap", "--variant=buildd", f"--architectures=amd64,{arch}"]
    argv += [f"--include={include}", "trixie", str(partial), "http://deb.debian.org/debian"]
    subprocess.run(argv, check=True)
    partial.rename(root)
    return root


def run_classic(w: Workload, work: Path, root: Path, cross: str = "") -> Result:
    with _bench_dir_in(root) as inside:
        src = _sources(w.name, inside)
        (inside / "build").mkdir()
        rel = "/" + str(inside.relative_to(root))
        script = _script(w, str(src).replace(str(root), "", 1), f"{rel}/build", cross=cross)
        # The recipe: proc and /dev mounted, chroot, the root's own tools. In a private mount
        # namespace so the mounts end with it (the recipe's own way leaves them on the host).
        recipe = (
            f"mount -t proc proc {shlex.quote(str(root / 'proc'))} && "
            f"mount --rbind /dev {shlex.quote(str(root / 'dev'))} && "
            f"exec chroot {shlex.quote(str(root))} /usr/bin/env -i "
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "
            f"LANG=C.UTF-8 /bin/sh -c {shlex.quote(script)}"
        )
        argv = ["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", recipe]
        return _timed(argv, work / "log")


# Every compile made, as the cross build makes them: a compiler cache would serve the
# second run of a workload from the first (bench/distribute.py measures the cache).
NO_CACHE = ("--no-cache",)


def run_armroot(w: Workload, work: Path, env_name: str, mode: str) -> Result:
    src = _sources(w.name, work)
    if w.name == "W6":
        script = _script(w, str(src), "/build")
        argv = [*ARMROOT, "run", env_name, "-q", "--accel", mode, *NO_CACHE]
        argv += ["--bind", f"{work}:{work}"]
        return _timed([*argv, "--", "sh", "-c", script], work / "log")
    configure, build, test = (
        step.format(src=shlex.quote(str(src)), build="/build", cmake_extra="", chost="", cross="")
        for step in (w.configure, w.build, w.test)
    )
    body = build + (f" && {test}" if test else "")
    (src / "armroot.toml").write_text(
        f"[build]\nconfigure = {json.dumps(['sh', '-c', configure])}\n"
        f"build = {json.dumps(['sh', '-c', body])}\n"
    )
    argv = [*ARMROOT, "build", env_name, "-q", "--src", str(src), "--accel", mode, *NO_CACHE]
    return _timed(argv, work / "log")


def census(env_name: str, work: Path, mode: str) -> tuple[float, list[tuple[str, int, float]]]:
    """W1 under strace: per program, how many ran and their own wall time (a process's
    lifetime minus the time its child processes were running: make waiting for a compiler
    is the compiler's time). Returns the total and rows sorted by time."""
    src = _sources("W1", work)
    w = WORKLOADS["W1"]
    configure = w.configure.format(src=str(src), build="/build", cmake_extra="", chost="")
    (src / "armroot.toml").write_text(
        f"[build]\nconfigure = {json.dumps(['sh', '-c', configure])}\n"
        f"build = {json.dumps(['sh', '-c', w.build.format(build='/build')])}\n"
    )
    trace = work / "trace"
    argv = ["strace", "-f", "-q", "-ttt", "--pidns-translation"]
    argv += ["-e", "trace=execve,fork,vfork,clone,clone3"]
    argv += ["-e", "signal=none", "-o", str(trace)]
    argv += [*ARMROOT, "build", env_name, "-q", "--src", str(src), "--accel", mode]
    start = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    total = time.monotonic() - start
    return total, own_times(trace.read_text())


def own_times(text: str) -> list[tuple[str, int, float]]:
    """Parse ``strace -f -ttt`` output (see :func:`census`)."""
    born: dict[str, float] = {}
    died: dict[str, float] = {}
    program: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    pending: dict[str, str] = {}  # pid -> the call line left <unfinished ...>
    threads: set[str] = set()  # a thread's time is its process's
    for line in text.splitlines():
        pid, stamp_text, rest = line.split(None, 2)
        stamp = float(stamp_text)
        born.setdefault(pid, stamp)
        if rest.startswith("+++"):
            died[pid] = stamp
            continue
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest
            continue
        if rest.startswith("<..."):
            rest = pending.pop(pid, "").replace("<unfinished ...>", "") + rest
        call = rest.split("(", 1)[0]
        # "= 2 /* 20418 in strace's PID NS */": the session's number, then strace's
        returned = rest.rsplit(") = ", 1)[-1] if ") = " in rest else ""
        translated = re.search(r"/\* (\d+) in strace's PID NS \*/", returned)
        result = translated.group(1) if translated else (returned.split() or [""])[0]
        if call == "execve" and result == "0":
            program[pid] = os.path.basename(rest.split('"', 2)[1])
        elif call in ("fork", "vfork", "clone", "clone3") and result.isdigit():
            if "CLONE_THREAD" in rest:
                threads.add(result)
            else:
                children.setdefault(pid, []).append(result)
                born.setdefault(result, stamp)
                program.setdefault(result, program.get(pid, "?"))  # until it execs
    end = max(died.values(), default=0.0)
    totals: dict[str, list[float]] = {}
    for pid, start in born.items():
        if pid in threads:
            continue
        stop = died.get(pid, end)
        spans = sorted((born[c], died.get(c, end)) for c in children.get(pid, []) if c in born)
        busy, cursor = 0.0, start
        for a, b in spans:  # the union of the children's lifetimes inside this one
            a, b = max(a, cursor), min(b, stop)
            if b > a:
                busy += b - a
                cursor = b
        name = program.get(pid, "?")
        totals.setdefault(name, []).append(max(0.0, stop - start - busy))
    rows = [(name, len(times), sum(times)) for name, times in totals.items()]
    return sorted(rows, key=lambda r: -r[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("env")
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--census", action="store_true")
    parser.add_argument("--census-mode", default="clang")
    args = parser.parse_args()
    workloads = [WORKLOADS[w] for w in args.workloads.split(",")]
    contenders = args.contenders.split(",")
    try:
        env = Store().get(args.env)
    except ArmrootError as exc:
        print(f"bench: {exc.one_line()}", file=sys.stderr)
        return 2
    triple = {"armhf": "arm-linux-gnueabihf", "arm64": "aarch64-linux-gnu"}[env.meta.arch]
    needs = [f"{triple}-g++"] if "cross" in contenders else []
    needs += ["strace"] if args.census else []
    missing = [program for program in needs if shutil.which(program) is None]
    if "cross" in contenders and not os.path.isdir("/usr/src/googletest"):
        missing.append("googletest")
    if "cross" in contenders and any(w.name == "W6" for w in workloads):
        missing += [p for p in ("mmdebstrap",) if shutil.which(p) is None]
    if missing:
        packages = {f"{triple}-g++": f"g++-{triple}"}
        names = " ".join(packages.get(m, m) for m in missing)
        print(f"bench: missing {', '.join(missing)}: apt-get install {names}", file=sys.stderr)
        return 2
    qemu_arch = "aarch64" if env.meta.arch == "arm64" else "arm"
    if not (env.rootfs / "usr/src/googletest").is_dir() and any(w.name == "W2" for w in workloads):
        install = [*ARMROOT, "install", args.env, *FMT_GTEST_FROM_SOURCES_PACKAGES, "-q"]
        subprocess.run(install, check=True)
    if any(w.name == "W6" for w in workloads) and not (env.rootfs / "usr/bin/dh").exists():
        subprocess.run([*ARMROOT, "install", args.env, *W6_PACKAGES, "-q"], check=True)
    # One session per mode before the clock: its twin set made (fetched, checked) and its
    # plan recorded for the root as it now is, not inside the first workload's time.
    for contender in contenders:
        if contender in ("none", "clang", "twins"):
            warm = [*ARMROOT, "run", args.env, "--accel", contender, "--", "true"]
            subprocess.run(warm, check=True, stdout=subprocess.DEVNULL)
    builds = env.path / "builds"
    before = set(os.listdir(builds)) if builds.is_dir() else set()
    results: dict[tuple[str, str], Result] = {}
    try:
        for w in workloads:
            for contender in contenders:
                with tempfile.TemporaryDirectory(prefix=f"bench-{w.name}-") as tmp:
                    work = Path(tmp)
                    if contender == "cross" and w.name == "W6":
                        root = cross_root(env.meta.arch)
                        result = run_classic(w, work, root, f"-a {env.meta.arch}")
                    elif contender == "cross":
                        result = run_cross(w, work, triple, qemu_arch)
                    elif contender == "classic":
                        result = run_classic(w, work, env.rootfs)
                    else:
                        result = run_armroot(w, work, args.env, contender)
                    if not result.ok:
                        saved = Path(f"/tmp/bench-{w.name}-{contender}.log")
                        shutil.copy(work / "log", saved)
                        result = result._replace(note=f"{result.note} (log: {saved})")
                results[(w.name, contender)] = result
                print(f"{w.name} {contender}: {result.seconds:.1f} s {result.note}", flush=True)
        traced, rows = 0.0, list[tuple[str, int, float]]()
        if args.census:
            with tempfile.TemporaryDirectory(prefix="bench-census-") as tmp:
                traced, rows = census(args.env, Path(tmp), args.census_mode)
    finally:
        for name in set(os.listdir(builds)) - before if builds.is_dir() else ():
            safe_remove(builds / name)
    print()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, kernel {platform.release()}; "
        f"env {args.env} ({env.meta.arch}, {env.meta.os_name}); "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print()
    print("| workload | " + " | ".join(contenders) + " |")
    print("|---" * (len(contenders) + 1) + "|")
    for w in workloads:
        cells = []
        reference = results.get((w.name, "cross"))
        for contender in contenders:
            r = results[(w.name, contender)]
            ratio = f" ({r.seconds / reference.seconds:.2f}x)" if reference and reference.ok else ""
            cells.append(f"{r.seconds:.1f} s{ratio}" + ("" if r.ok else " FAILED"))
        print(f"| {w.name}: {w.title} | " + " | ".join(cells) + " |")
    if rows:
        print()
        print(f"Accelerated W1 under strace: {traced:.1f} s in all (strace slows it)")
        print()
        print("| program | processes | own wall time |")
        print("|---|---|---|")
        for name, count, seconds in rows[:15]:
            print(f"| {name} | {count} | {seconds:.1f} s |")
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
