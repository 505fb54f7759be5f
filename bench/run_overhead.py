"""W4: the cost of `armroot run ENV true` against a bare `chroot ROOT /bin/true`.

Both run the root's own /bin/true under QEMU through binfmt_misc; the difference is what
armroot adds (Python start-up, namespaces, mounts, supervision). Runs alternate so both see
the same machine load. Prints a Markdown table for docs/benchmarks.md.

    sudo .venv/bin/python bench/run_overhead.py ENV [--runs 50]

also times `armroot run ENV --no-accel` (no native compilers or cmake to set up), and the
full path (ARMROOT_QUICK=0: no recorded plan used, everything imported and read again).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from armroot.store.envs import Store


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
    environ.pop("ARMROOT_QUICK", None)
    full_path = dict(environ, ARMROOT_QUICK="0")  # every run plans in full
    rows: list[tuple[str, list[str], dict[str, str]]] = [
        ("`chroot ROOT /bin/true`", chroot, environ),
        (f"`armroot run {args.env} -- /bin/true`", armroot, environ),
        (f"`armroot run {args.env} --no-accel -- /bin/true`", plain, environ),
        (f"`ARMROOT_QUICK=0 armroot run {args.env} -- /bin/true`", armroot, full_path),
    ]
    # Warm the page cache; the second plain run records the env's plan in the plan cache
    # (the first one in a fresh env may not: see docs/architecture.md, "A session's path").
    for _, argv, env_vars in (*rows, *rows):
        _time(argv, env_vars)
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(args.runs):
        for (_, argv, env_vars), samples in zip(rows, times, strict=True):
            samples.append(_time(argv, env_vars))
    medians = [statistics.median(samples) * 1000 for samples in times]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.release()}; "
        f"env {args.env} ({env.meta.arch}), {args.runs} runs each, medians"
    )
    print()
    print("| command | median | vs chroot |")
    print("|---|---|---|")
    for (label, _, _), ms in zip(rows, medians, strict=True):
        ratio = f"{ms / medians[0]:.2f}x" + (
            f" (+{ms - medians[0]:.0f} ms)" if ms != medians[0] else ""
        )
        print(f"| {label} | {ms:.0f} ms | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
