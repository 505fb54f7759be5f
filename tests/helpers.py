"""Shared test helpers: run the real CLI, snapshot the host, find a session's processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# GNU tar keeping numeric owners and extended attributes (file capabilities included).
TAR = ("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*")


def armroot(
    *args: str,
    home: Path,
    timeout: float = 900,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m armroot ARGS`` with the store at ``home``; output captured as text."""
    full_env = dict(os.environ)
    full_env["ARMROOT_HOME"] = str(home)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "armroot", *args],
        env=full_env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"armroot {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("armroot: error:")]


@dataclass(frozen=True)
class HostState:
    mounts: tuple[str, ...]
    loops: str

    @classmethod
    def now(cls) -> HostState:
        with open("/proc/self/mountinfo") as f:
            mounts = tuple(" ".join(line.split()[3:5]) for line in f)
        loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        return cls(mounts, loops)


def children_of(pid: int) -> list[int]:
    """All descendants of ``pid`` (host PIDs), found through /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents[int(entry)] = ppid
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == current]
        found += kids
        frontier += kids
    return found


def namespace_of(pid: int, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def processes_in_namespace(ns: str, kind: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and namespace_of(int(entry), kind) == ns:
            pids.append(int(entry))
    return pids


def wait_for(predicate: Callable[[], bool], timeout: float = 30, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
