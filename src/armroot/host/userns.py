"""Rootless armroot: become root of a user namespace mapped onto the user's subordinate ids.

An ordinary user's armroot enters one user namespace before it touches a root filesystem:
inner uid 0 is the user (files armroot writes stay the user's own), inner ids 1..N are the
first N ids of the user's /etc/subuid (/etc/subgid) range, written by the setuid
newuidmap/newgidmap of the shadow suite -- armroot has no setuid helper of its own. Inside,
armroot is root as far as the root filesystem is concerned: it can chown to _apt, unshare
mount and PID namespaces for sessions, chroot, and delete files owned by subordinate ids.
Everything outside the mapping (the host's root-owned files) appears as nobody and stays
out of reach.

The checks are pure functions over /proc and /etc text, so doctor and the unit tests use
them too; ``become_root`` is the one place that acts.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import NamedTuple

from armroot.errors import HostError
from armroot.host import privileges

# Inner ids 1..65535 at least: a Debian root uses 65534 (nobody) and ids up to 65533.
MIN_COUNT = 65535
ETC = Path("/etc")
PROC = Path("/proc")


class IdRange(NamedTuple):
    start: int
    size: int


class Blocker(NamedTuple):
    """One thing that keeps rootless armroot from working: the setting and the fix."""

    what: str
    hint: str


def parse_subids(text: str, user: str, ident: int) -> IdRange | None:
    """The first range /etc/subuid (or subgid) gives ``user`` (by name or number)."""
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (user, str(ident)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if start >= 0 and count > 0:
            return IdRange(start, count)
    return None


def id_map(own: int, sub: IdRange) -> list[str]:
    """newuidmap/newgidmap arguments: inner 0 -> own id, inner 1.. -> the subordinate range."""
    return ["0", str(own), "1", "1", str(sub.start), str(sub.size)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


# The sysctls that switch unprivileged user namespaces off, the value that does it, what
# to tell, and the value that turns them back on.
SYSCTLS = (
    (
        "user.max_user_namespaces",
        "0",
        "user namespaces are disabled (sysctl user.max_user_namespaces = 0)",
        "65536",
    ),
    (
        "kernel.unprivileged_userns_clone",  # Debian's kernels before 6.x
        "0",
        "unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone = 0)",
        "1",
    ),
    (
        "kernel.apparmor_restrict_unprivileged_userns",
        "1",
        "AppArmor restricts unprivileged user namespaces (sysctl "
        "kernel.apparmor_restrict_unprivileged_userns = 1, as on Ubuntu 24.04)",
        "0",
    ),
)


def namespace_blocker(proc: Path = PROC) -> Blocker | None:
    """Why unprivileged user namespaces are off on this host, if they are."""
    for name, bad, what, good in SYSCTLS:
        value = _read(proc / "sys" / name.replace(".", "/"))
        if value is None or value.strip() != bad:
            continue
        fix = f"sudo sysctl -w {name}={good} (and the same line in /etc/sysctl.d/ to keep it)"
        if "apparmor" in name:
            fix = (
                "allow them for armroot's Python with an AppArmor profile granting `userns,` "
                f"(see README, Rootless), or {fix}"
            )
        return Blocker(what, fix)
    return None


def free_start(*texts: str) -> int:
    """The first id after every range in /etc/subuid and /etc/subgid (at least 100000),
    so a suggested range collides with nobody's. Pure."""
    end = 100000
    for text in texts:
        for line in text.splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    return end


def range_blocker(
    kind: str, text: str | None, user: str, ident: int, start: int = 100000
) -> Blocker | None:
    """Whether /etc/sub{kind} gives ``user`` a range big enough for a Linux root; the fix
    suggests 65536 ids from ``start``."""
    span = f"{start}-{start + 65535}"
    fix = f"sudo usermod --add-subuids {span} --add-subgids {span} {user}"
    path = f"/etc/sub{kind}"
    if text is None:
        return Blocker(f"{path} is missing or unreadable: {user} has no subordinate {kind}s", fix)
    found = parse_subids(text, user, ident)
    if found is None:
        return Blocker(f"{path} has no range for {user}", fix)
    if found.size < MIN_COUNT:
        return Blocker(
            f"{path} gives {user} only {found.size} {kind}s; a root filesystem needs {MIN_COUNT}",
            fix,
        )
    return None


def helper_blocker(name: str, path: str | None) -> Blocker | None:
    """newuidmap/newgidmap: present, and privileged (setuid root or file capabilities)."""
    install = (
        "install it: `sudo apt-get install uidmap` (Debian/Ubuntu), "
        "`sudo dnf install shadow-utils` (Fedora), `sudo pacman -S shadow` (Arch)"
    )
    if path is None:
        return Blocker(f"{name} is not installed (it maps subordinate ids)", install)
    info = os.stat(path)
    privileged = info.st_mode & 0o4000 and info.st_uid == 0
    if not privileged:
        try:
            privileged = bool(os.getxattr(path, "security.capability"))
        except OSError:
            privileged = False
    if not privileged:
        return Blocker(
            f"{path} is neither setuid root nor has file capabilities",
            f"reinstall it so it is privileged ({install.split(': ', 1)[1]})",
        )
    return None


class Identity(NamedTuple):
    user: str
    uid: int
    gid: int


def identity() -> Identity:
    import pwd

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return Identity(user, uid, os.getgid())


def blockers(who: Identity, proc: Path = PROC, etc: Path = ETC) -> list[Blocker]:
    """Everything that keeps ``who`` from rootless use, in the order to fix it."""
    import shutil

    subuid, subgid = _read(etc / "subuid"), _read(etc / "subgid")
    start = free_start(subuid or "", subgid or "")
    found = [
        namespace_blocker(proc),
        range_blocker("uid", subuid, who.user, who.uid, start),
        range_blocker("gid", subgid, who.user, who.gid, start),
        helper_blocker("newuidmap", shutil.which("newuidmap")),
        helper_blocker("newgidmap", shutil.which("newgidmap")),
    ]
    return [b for b in found if b is not None]


def _unshare_user() -> None:
    from armroot.host import syscalls as sc

    try:
        sc.unshare(sc.CLONE_NEWUSER)
    except OSError as exc:
        blocker = namespace_blocker()
        if blocker is not None:
            raise HostError(blocker.what, blocker.hint) from exc
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise HostError(
                "the kernel refused a user namespace (EPERM: a seccomp or security-module "
                "policy, or armroot runs inside a chroot)",
                "run armroot directly on the host, or as root",
            ) from exc
        if exc.errno == errno.ENOSPC:
            raise HostError(
                "the limit on user namespaces is reached (sysctl user.max_user_namespaces)",
                "raise it: sudo sysctl -w user.max_user_namespaces=65536",
            ) from exc
        raise HostError(f"cannot create a user namespace: {exc.strerror}") from exc


def become_root() -> None:
    """Make this process root of a new user namespace mapped onto the user's subordinate
    ids. A no-op for root. Raises HostError naming the missing setting; never falls back
    to sudo. Must run before any thread starts (unshare(CLONE_NEWUSER) requires it)."""
    if os.geteuid() == 0:
        return
    import subprocess

    from armroot import log

    who = identity()
    # Inside, uid 0 is the user, but the password database says uid 0 is root: where the
    # user's home is (the store's default place) is settled before.
    os.environ.setdefault("HOME", str(Path.home()))
    problems = blockers(who)
    if problems:
        raise HostError(problems[0].what, problems[0].hint)
    etc_subuid = _read(ETC / "subuid") or ""
    etc_subgid = _read(ETC / "subgid") or ""
    subuid = parse_subids(etc_subuid, who.user, who.uid)
    subgid = parse_subids(etc_subgid, who.user, who.gid)
    assert subuid is not None and subgid is not None  # blockers() checked them
    pid = str(os.getpid())
    # The mapping helpers must be started from the host's user namespace, so before
    # unshare(); each waits for a line on stdin, then maps this process.
    helpers = []
    for tool, own, sub in (("newuidmap", who.uid, subuid), ("newgidmap", who.gid, subgid)):
        argv = [tool, pid, *id_map(own, sub)]
        log.debug("+ " + " ".join(argv) + " (after unshare)")
        helpers.append(
            subprocess.Popen(
                ["sh", "-c", 'read -r _ && exec "$0" "$@"', *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        _unshare_user()
    except BaseException:
        for helper in helpers:
            helper.kill()
            helper.communicate()
        raise
    failures = []
    for helper in helpers:
        _, err = helper.communicate("go\n")
        if helper.returncode != 0:
            failures.append(err.strip().splitlines()[-1] if err.strip() else "failed")
    if failures:
        raise HostError(
            f"mapping subordinate ids failed: {failures[0]}",
            "check /etc/subuid and /etc/subgid with `armroot doctor`",
        )
    # Supplementary groups stay (unmapped, they show as nogroup but still grant access, e.g.
    # to a /dev/fuse of group fuse).
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    privileges.mark_entered()
