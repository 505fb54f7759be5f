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


def _amd64_install(scratch: Path, suite: str, packages: list[str]) -> tuple[float, float]:
    """(bootstrap, install) seconds in a native amd64 root: mmdebstrap with the default set,
    then apt-get update and install in a chroot inside a private mount and PID namespace."""
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
    script = (
        f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && "
        f"cp /etc/resolv.conf {root}/etc/resolv.conf && "
        f"chroot {root} apt-get update -q && "  # as `armroot install` does: the lists are empty
        f"DEBIAN_FRONTEND=noninteractive chroot {root} "
        f"apt-get install -y -q --no-install-recommends {' '.join(packages)}"
    )
    install, _ = _timed(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c", script],
        dict(os.environ),
    )
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)
    return took, install


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
        results = {}
        for mode in ("auto", "none"):
            name = f"install-{mode}"
            _timed(
                [*ARMROOT, "create", name, "--from", f"debian:{args.suite}", "--arch", "arm64"], env
            )
            mode_env = dict(env, ARMROOT_ACCEL=mode)
            _timed([*ARMROOT, "run", name, "--", "true"], mode_env)  # twins fetched, plan made
            results[mode], _ = _timed([*ARMROOT, "install", name, *packages], mode_env)
            print(f"install ({mode}): {results[mode]:.1f} s", flush=True)
            _timed([*ARMROOT, "rm", name], env)
        for name in ("default", "again"):
            _timed([*ARMROOT, "rm", name], env)
        amd64_bootstrap, amd64_install = _amd64_install(scratch, args.suite, packages)
        print(f"amd64 bootstrap: {amd64_bootstrap:.1f} s, install: {amd64_install:.1f} s")
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
