"""W5: `armroot create` of the default env cold (empty cache: mmdebstrap, then the bootstrap
kept) and warm (restored from the cached bootstrap), and `armroot install ENV libboost-dev`
in it against the same install in an amd64 root of the same suite made the same way
(mmdebstrap, native), one run: the numbers in docs/benchmarks.md.

    sudo .venv/bin/python bench/create.py [--suite trixie] [--packages libboost-dev]

Everything happens in a scratch store and cache of its own (removed afterwards); the host's
store is not touched. The cold create prints where its time went (mmdebstrap's phases).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMROOT = [sys.executable, "-m", "armroot"]
INCLUDE = "build-essential,cmake,ca-certificates"  # armroot's default set
MIRROR = "http://deb.debian.org/debian"


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.monotonic()
    done = subprocess.run(argv, env=env, text=True, capture_output=True)
    took = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(argv)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return took, done.stdout + done.stderr


def _amd64_root(scratch: Path, suite: str) -> tuple[float, Path]:
    """Seconds to make a native amd64 root of the default set (mmdebstrap), and the root."""
    root = scratch / "amd64"
    took, _ = _timed(
        [
            "mmdebstrap",
            "--variant=apt",
            "--architectures=amd64",
            "--format=directory",
            f"--include={INCLUDE}",
            suite,
            str(root),
            MIRROR,
        ],
        dict(os.environ),
    )
    return took, root


def _amd64_install(root: Path, packages: list[str]) -> float:
    """Seconds for apt-get update and install in the amd64 root, in a chroot inside a
    private mount and PID namespace."""
    script = (
        f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && "
        f"cp /etc/resolv.conf {root}/etc/resolv.conf && "
        f"chroot {root} apt-get update -q && "  # as `armroot install` does: the lists are empty
        f"DEBIAN_FRONTEND=noninteractive chroot {root} "
        f"apt-get install -y -q --no-install-recommends {' '.join(packages)}"
    )
    took, _ = _timed(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c", script],
        dict(os.environ),
    )
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("--packages", default="libboost-dev")
    args = parser.parse_args()
    packages = args.packages.split(",")
    with tempfile.TemporaryDirectory(prefix="armroot-bench-", dir="/var/tmp") as tmp:
        scratch = Path(tmp)
        env = dict(os.environ, ARMROOT_HOME=str(scratch / "store"))
        env["ARMROOT_CACHE"] = str(scratch / "cache")
        create = [
            *ARMROOT,
            "create",
            "default",
            "--from",
            f"debian:{args.suite}",
            "--arch",
            "arm64",
        ]
        cold, log = _timed(create, env)
        phases = re.search(r"packages set up; (.*)", log)
        kept = re.search(r"Keeping the bootstrap.*?done in ([\d.]+)s", log, re.S)
        print(f"cold create: {cold:.1f} s", flush=True)
        if phases:
            print(f"  mmdebstrap: {phases.group(1)}")
        if kept:
            print(f"  keeping the bootstrap: {kept.group(1)} s")
        # The second create of the key, beside the first (not after an rm: deleting 700 MB
        # on this VM's disk, mounted with discard, slows the writes that follow it).
        again = [*ARMROOT, "create", "again", *create[5:]]
        warm, log = _timed(again, env)
        assert "from the cached bootstrap" in log, log
        print(f"warm create: {warm:.1f} s", flush=True)
        # Every install's env (and the amd64 root) made first, then a sync and a pause: ext4
        # passes over the inodes freed in the last 30 s when it allocates one, and an install
        # of 15,000 files right after an env's removal took up to twice as long, in the kernel.
        modes = ("auto", "none")
        for mode in modes:
            name = f"install-{mode}"
            _timed(
                [*ARMROOT, "create", name, "--from", f"debian:{args.suite}", "--arch", "arm64"], env
            )
            # twins fetched, plan made
            _timed([*ARMROOT, "run", name, "--", "true"], dict(env, ARMROOT_ACCEL=mode))
        amd64_bootstrap, amd64_root = _amd64_root(scratch, args.suite)
        print(f"amd64 bootstrap: {amd64_bootstrap:.1f} s", flush=True)
        subprocess.run(["sync"], check=True)
        time.sleep(35)
        results = {}
        for mode in modes:
            mode_env = dict(env, ARMROOT_ACCEL=mode)
            results[mode], _ = _timed([*ARMROOT, "install", f"install-{mode}", *packages], mode_env)
            print(f"install ({mode}): {results[mode]:.1f} s", flush=True)
        amd64_install = _amd64_install(amd64_root, packages)
        print(f"amd64 install: {amd64_install:.1f} s", flush=True)
        for name in ("default", "again", *(f"install-{mode}" for mode in modes)):
            _timed([*ARMROOT, "rm", name], env)
        subprocess.run(["rm", "-rf", "--one-file-system", str(amd64_root)], check=True)
    print()
    print("| W5 | seconds | ratio |")
    print("|---|---|---|")
    print(
        f"| create default, cold (empty cache) | {cold:.1f} | {cold / amd64_bootstrap:.2f}x amd64 |"
    )
    print(f"| create default, warm (cached bootstrap) | {warm:.1f} | |")
    print(f"| amd64 root, mmdebstrap native | {amd64_bootstrap:.1f} | 1.00x |")
    for mode, took in results.items():
        print(
            f"| install {' '.join(packages)} ({mode}) | {took:.1f} | "
            f"{took / amd64_install:.2f}x amd64 |"
        )
    print(f"| install {' '.join(packages)} in the amd64 root | {amd64_install:.1f} | 1.00x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
