"""`armroot install ENV PACKAGES` with its maintainer scripts through twins and fully
emulated, one run: the numbers in docs/benchmarks.md.

    sudo .venv/bin/python bench/install.py ROOT_TARBALL [--packages libboost-dev]

Each contender gets a fresh env made from ROOT_TARBALL (an arm64 or armhf Debian root, e.g.
the suite's cached trixie roots under /var/cache/armroot-tests/roots), one session first
(so twins are fetched and the plan made before the clock starts), then the timed install:
apt's own download and unpacking, and every maintainer script and trigger (emulated, or the
root's own sh, sed and the rest through their twins). Both envs are removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ARMROOT = [sys.executable, "-m", "armroot"]
MODES = {"none": "none", "twins": "auto"}  # ARMROOT_ACCEL: what package changes run with


def _armroot(*args: str, mode: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ARMROOT_ACCEL=mode)
    return subprocess.run([*ARMROOT, *args], env=env, text=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tarball")
    parser.add_argument("--packages", default="libboost-dev")
    args = parser.parse_args()
    packages = args.packages.split(",")
    results: dict[str, float] = {}
    for name, mode in MODES.items():
        env = f"bench-install-{name}"
        made = _armroot("create", env, "--from", args.tarball, "-q", mode=mode)
        if made.returncode != 0:
            print(f"bench: cannot create {env}: {made.stderr.strip()}", file=sys.stderr)
            return 2
        try:
            _armroot("run", env, "--", "true", mode=mode)
            start = time.monotonic()
            done = _armroot("install", env, *packages, mode=mode)
            results[name] = time.monotonic() - start
            if done.returncode != 0:
                print(f"bench: install in {env} failed: {done.stderr[-2000:]}", file=sys.stderr)
                return 1
            print(f"{name}: {results[name]:.1f} s", flush=True)
        finally:
            _armroot("rm", env, mode=mode)
    print()
    print(f"| `armroot install ENV {' '.join(packages)}` | emulated | twins |")
    print("|---|---|---|")
    none, twins = results["none"], results["twins"]
    print(
        f"| {args.tarball.rsplit('/', 1)[-1]} | {none:.1f} s (1.00x) | {twins:.1f} s "
        f"({twins / none:.2f}x) |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
