"""W4: the cost of `armroot run ENV true` against a bare `chroot ROOT /bin/true`.

Both run the root's own /bin/true under QEMU through binfmt_misc; the difference is what
armroot adds (Python start-up, namespaces, mounts, supervision). Runs alternate so both see
the same machine load. Prints a Markdown table for docs/benchmarks.md.

    sudo .venv/bin/python bench/run_overhead.py ENV [--runs 50]

also times `armroot run ENV --no-accel` (no native compilers or cmake to set up).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from armroot.store import Store


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("env")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    env = Store().get(args.env)
    armroot = [sys.executable, "-m", "armroot", "run", args.env, "--", "/bin/true"]
    console_script = os.path.join(os.path.dirname(sys.executable), "armroot")
    if os.path.exists(console_script):
        armroot = [console_script, "run", args.env, "--", "/bin/true"]
    chroot = ["chroot", str(env.rootfs), "/bin/true"]
    # The native compilers (and cmake) are set up for every session unless --no-accel.
    plain = [*armroot[:-2], "--no-accel", *armroot[-2:]]
    environ = dict(os.environ)
    for argv in (chroot, armroot, plain):  # warm the page cache
        _time(argv, environ)
    bare: list[float] = []
    ours: list[float] = []
    no_accel: list[float] = []
    for _ in range(args.runs):
        bare.append(_time(chroot, environ))
        ours.append(_time(armroot, environ))
        no_accel.append(_time(plain, environ))
    bare_ms = statistics.median(bare) * 1000
    ours_ms = statistics.median(ours) * 1000
    plain_ms = statistics.median(no_accel) * 1000
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.release()}; "
        f"env {args.env} ({env.meta.arch}), {args.runs} runs each, medians"
    )
    print()
    print("| command | median | vs chroot |")
    print("|---|---|---|")
    print(f"| `chroot ROOT /bin/true` | {bare_ms:.0f} ms | 1.00x |")
    print(
        f"| `armroot run {args.env} -- /bin/true` | {ours_ms:.0f} ms | "
        f"{ours_ms / bare_ms:.2f}x (+{ours_ms - bare_ms:.0f} ms) |"
    )
    print(
        f"| `armroot run {args.env} --no-accel -- /bin/true` | {plain_ms:.0f} ms | "
        f"{plain_ms / bare_ms:.2f}x (+{plain_ms - bare_ms:.0f} ms) |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
