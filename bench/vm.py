"""W5: `armroot vm` — boot time, and a CPU-bound program under qemu-system vs `armroot run`.

The env needs a kernel (`armroot vm ENV --install-kernel -- true` once). The program is
compiled in the env, copied into its root for the benchmark and removed at the end. It
times its own work (CLOCK_MONOTONIC), so boot and start-up do not count in that column;
the wall column is the whole `armroot` command. Prints a Markdown table for
docs/benchmarks.md.

    sudo .venv/bin/python bench/vm.py ENV [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from armroot.store.envs import Store

PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A sieve (memory, branches) and an integer hash loop (ALU): single-threaded. */
int main(void) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum { N = 8000000 };
    unsigned char *composite = malloc(N);
    unsigned long primes = 0;
    for (int round = 0; round < 4; round++) {
        memset(composite, 0, N);
        primes = 0;
        for (long i = 2; i < N; i++) {
            if (composite[i]) continue;
            primes++;
            for (long j = i * i; j < N; j += i) composite[j] = 1;
        }
    }
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < 200000000ull; i++) h = (h ^ (i & 0xff)) * 1099511628211ull;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("primes=%lu hash=%016llx work_ms=%.1f\n", primes, (unsigned long long)h, ms);
    return 0;
}
"""
INSIDE = "/root/.armroot-bench"


def _armroot(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "armroot", *args], text=True, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"armroot {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - start, proc


def _work_ms(output: str) -> float:
    match = re.search(r"work_ms=([\d.]+)", output)
    if not match:
        raise SystemExit(f"no timing in the program's output: {output!r}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("env")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = Store().get(args.env)
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, "cpuwork.c").write_text(PROGRAM)
        bind = f"{scratch}:/mnt/bench"
        _armroot("run", args.env, "--bind", bind, "--", "cc", "-O2", "-o",
                 "/mnt/bench/cpuwork", "/mnt/bench/cpuwork.c")  # fmt: skip
        _armroot("run", args.env, "--bind", bind, "--", "install", "-D",
                 "/mnt/bench/cpuwork", f"{INSIDE}/cpuwork")  # fmt: skip
    try:
        boots: list[float] = []
        true_walls: list[float] = []
        vm_work: list[float] = []
        vm_walls: list[float] = []
        run_work: list[float] = []
        run_walls: list[float] = []
        for _ in range(args.runs):
            wall, proc = _armroot("vm", args.env, "--", "true")
            true_walls.append(wall)
            boots.append(float(re.search(r"booted in ([\d.]+)s", proc.stderr).group(1)))  # type: ignore[union-attr]
            wall, proc = _armroot("vm", args.env, "--cpus", "1", "--", f"{INSIDE}/cpuwork")
            vm_walls.append(wall)
            vm_work.append(_work_ms(proc.stdout))
            wall, proc = _armroot("run", args.env, "--", f"{INSIDE}/cpuwork")
            run_walls.append(wall)
            run_work.append(_work_ms(proc.stdout))
    finally:
        _armroot("run", args.env, "--", "rm", "-rf", INSIDE)
    med = statistics.median
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.release()}; "
        f"env {args.env} ({env.meta.arch}, board {env.meta.board or 'default'}), "
        f"{args.runs} runs each, medians"
    )
    print()
    print("| measure | armroot run | armroot vm | vm / run |")
    print("|---|---:|---:|---:|")
    print(f"| boot to the command (`vm -- true`) | | {med(boots):.1f} s | |")
    print(f"| whole `vm -- true` | | {med(true_walls):.1f} s | |")
    print(
        f"| CPU-bound program, its own time | {med(run_work) / 1000:.2f} s | "
        f"{med(vm_work) / 1000:.2f} s | {med(vm_work) / med(run_work):.2f}x |"
    )
    print(
        f"| CPU-bound program, whole command | {med(run_walls):.1f} s | "
        f"{med(vm_walls):.1f} s | {med(vm_walls) / med(run_walls):.2f}x |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
