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


# Host files a session or a create could touch if it went wrong (resolv.conf and hosts are
# bound, the CA bundle is bound with --host-ca, fstab would tell a stray mount).
GUARDED_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/fstab",
    "/etc/ssl/certs/ca-certificates.crt",
)
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def _digest(path: str) -> str:
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


def _dev_listing() -> tuple[tuple[str, int, int], ...]:
    entries = []
    for name in sorted(os.listdir("/dev")):
        try:
            info = os.lstat(f"/dev/{name}")
        except OSError:
            continue
        entries.append((name, info.st_mode, info.st_rdev))
    return tuple(entries)


def _binfmt() -> tuple[tuple[str, str], ...]:
    if not BINFMT.is_dir():
        return ()
    found = []
    for entry in sorted(BINFMT.iterdir()):
        if entry.name.startswith("qemu-"):
            found.append((entry.name, entry.read_text()))
    return tuple(found)


@dataclass(frozen=True)
class HostFiles:
    """What must be byte-identical after any case: guarded files, /dev, binfmt handlers."""

    digests: tuple[tuple[str, str], ...]
    dev: tuple[tuple[str, int, int], ...]
    binfmt: tuple[tuple[str, str], ...]

    @classmethod
    def now(cls) -> HostFiles:
        return cls(tuple((p, _digest(p)) for p in GUARDED_FILES), _dev_listing(), _binfmt())


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, state) for every process (kernel threads included)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


def _looks_like_ours(pid: int) -> bool:
    """A process a session made: in another PID, mount or user namespace than ours (a
    session, or rootless armroot), or QEMU."""
    own = os.getpid()
    for kind in ("pid", "mnt", "user"):
        theirs = namespace_of(pid, kind)
        if theirs is not None and theirs != namespace_of(own, kind):
            return True
    try:
        return "qemu-" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


def stray_processes(before: set[int]) -> list[str]:
    """Processes started since ``before`` that are still alive and were left behind: still
    under this test process, or re-parented to PID 1 and made by a session.
    (Processes under other, older processes, e.g. a benchmark running beside the suite, are
    not this test's.)"""
    table = _process_table()
    own = os.getpid()
    stray = []
    for pid, (ppid, state) in table.items():
        if pid in before or state == "Z" or pid == own:
            continue
        ancestor = ppid
        while ancestor not in before and ancestor in table and ancestor > 1:
            ancestor = table[ancestor][0]
        if ancestor == own or (ancestor == 1 and _looks_like_ours(pid)):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            stray.append(f"{pid}: {cmdline.decode(errors='replace').strip()}")
    return stray


def running_pids() -> set[int]:
    return set(_process_table())


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


def assert_session_gone(inside: list[int], pid_ns: str, mnt_ns: str) -> None:
    """Every process of a session (host PIDs ``inside``) and both its namespaces are gone."""
    assert wait_for(lambda: not processes_in_namespace(pid_ns, "pid"), timeout=20)
    assert wait_for(lambda: not processes_in_namespace(mnt_ns, "mnt"), timeout=20)
    assert not [p for p in inside if Path(f"/proc/{p}").exists()]


def wait_for(predicate: Callable[[], bool], timeout: float = 30, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
