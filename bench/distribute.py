"""Distributed compiles and the compiler cache on W2 (fmt 9.1.0 with its tests, Google Test
built from its sources), one run: docs/benchmarks.md.

    sudo .venv/bin/python bench/distribute.py ENV [--accel clang|twins] [--no-cache-runs]

ENV is an arm64 or armhf armroot env with cmake and g++ (googletest is installed into it
when missing). Two machines are simulated on this one with CPU pinning: the client's whole
build (armroot, its session, distcc's preprocessing, the links) on CPU 0, one helper
(`armroot helper serve`, on 127.0.0.1; with twins `--env ENV`) on CPU 1. All builds use the
native clang, or with `--accel twins` the env's twin gcc.

- local: W2 on CPU 0 alone, without the compiler cache;
- helper: the same with `--distribute` to the helper (-j2: one job here, one there);
- cache cold / warm: W2 on both CPUs with the compiler cache, first with an empty cache,
  then again from a clean build directory.

Every build's tests must pass, or its time is not a result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compile import CACHE, WORKLOADS, Result, _timed  # noqa: E402

from tests.integration.workloads import (  # noqa: E402
    FMT_GTEST_FROM_SOURCES,
    FMT_GTEST_FROM_SOURCES_PACKAGES,
    FMT_SHA256,
    FMT_URL,
    fetch_pinned,
    unpack_fmt,
)

ARMROOT = [sys.executable, "-m", "armroot"]
PORT = 3640


def _project(work: Path, env: str) -> Path:
    src = unpack_fmt(fetch_pinned(FMT_URL, FMT_SHA256, CACHE), work, FMT_GTEST_FROM_SOURCES)
    w = WORKLOADS["W2"]
    configure = w.configure.format(src=src, build="/build", cmake_extra="")
    build = "cmake --build /build -- -j$ARMROOT_JOBS && cd /build && ctest -j$ARMROOT_JOBS"
    (src / "armroot.toml").write_text(
        f'[env]\nname = "{env}"\npackages = {json.dumps(list(FMT_GTEST_FROM_SOURCES_PACKAGES))}\n'
        f"[build]\nconfigure = {json.dumps(['sh', '-c', configure])}\n"
        f"build = {json.dumps(['sh', '-c', build])}\n"
    )
    return src


ACCEL = "clang"


def _build_dir(env: str, src: Path) -> Path:
    from armroot.commands.build import _build_dir as build_dir
    from armroot.store.envs import Store

    return build_dir(Store().get(env), src.resolve(), ACCEL)


def _clean(env: str, src: Path) -> None:
    directory = _build_dir(env, src)
    shutil.rmtree(directory)
    directory.mkdir()


def _build(src: Path, log: Path, *options: str, cpus: str = "") -> Result:
    pin = ["taskset", "-c", cpus] if cpus else []
    argv = [*pin, *ARMROOT, "-v", "build", "--src", str(src), "--accel", ACCEL, *options]
    return _timed(argv, log)


def main() -> int:
    global ACCEL
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env")
    parser.add_argument("--accel", choices=["clang", "twins"], default="clang")
    parser.add_argument(
        "--no-cache-runs", action="store_true", help="only the local and the helper builds"
    )
    args = parser.parse_args()
    env, ACCEL = args.env, args.accel
    if len(os.sched_getaffinity(0)) < 2:
        print("needs two CPUs: one for the client, one for the helper")
        return 2
    work = Path(tempfile.mkdtemp(prefix="armroot-bench-distribute-"))
    results: dict[str, Result] = {}
    helper: subprocess.Popen[bytes] | None = None
    try:
        src = _project(work, env)
        # Warm-up: packages installed, the native cmake fetched, the shim built, configured.
        warmup = _build(src, work / "warmup.log", "--no-cache")
        if not warmup.ok:
            print(f"warm-up failed: {warmup.note}; see {work / 'warmup.log'}")
            return 1
        _clean(env, src)
        results["local"] = _build(src, work / "local.log", "--no-cache", cpus="0")
        with (work / "helper-serve.log").open("wb") as out:
            helper = subprocess.Popen(
                ["taskset", "-c", "1", *ARMROOT, "helper", "serve", "--port", str(PORT)]
                + (["--env", env] if ACCEL == "twins" else []),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        time.sleep(3)
        _clean(env, src)
        results["helper"] = _build(
            src, work / "helper.log", "--no-cache", "--distribute", f"127.0.0.1:{PORT}", cpus="0"
        )
        helper.terminate()
        helper.wait(timeout=30)
        helper = None
        if args.no_cache_runs:
            raise SystemExit(_report(results, work))
        from armroot.accel import compile_cache
        from armroot.store.envs import cache_home

        compile_cache.clean(cache_home())  # a cold cache (this machine's: it refills)
        _clean(env, src)
        results["cache cold"] = _build(src, work / "cold.log")
        _clean(env, src)
        results["cache warm"] = _build(src, work / "warm.log")
    finally:
        if helper is not None:
            helper.terminate()
            helper.wait(timeout=30)
    return _report(results, work)


def _report(results: dict[str, Result], work: Path) -> int:
    print(f"accel: {ACCEL}")
    for name, result in results.items():
        state = "ok" if result.ok else f"FAILED ({result.note})"
        print(f"{name:12} {result.seconds:8.1f} s  {state}")
    if all(r.ok for r in results.values()):
        print(f"one helper: {results['local'].seconds / results['helper'].seconds:.2f}x faster")
        if "cache warm" in results:
            warm = results["cache warm"].seconds / results["cache cold"].seconds
            print(f"warm cache: {warm:.0%} of the cold build")
    print(f"logs: {work}")
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
