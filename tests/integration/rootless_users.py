"""The rootless tests' users and helpers: two temporary users (one with a subordinate id
range, one without), the users' own armroot (a venv of the system Python with armroot from
a copy of this checkout, in a world-readable scratch directory), running commands as them,
and reading owners through their id mappings. Everything is removed afterwards."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from armroot.host import userns
from armroot.host.userns import IdRange
from armroot.store.tree import safe_remove
from tests.helpers import (
    REPO,
)

# Runs the rest of its arguments in a private mount namespace where a 0666 /dev/fuse node
# (made on a tmpfs at $0) is bound over /dev/fuse: this kind of machine keeps the host's at
# 0600, distributions ship 0666. The host's /dev/fuse is never changed.
FUSE_WRAP = (
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount -t tmpfs -o size=64k tmpfs "$0" && mknod -m 666 "$0/fuse" c 10 229 && '
    'mount --bind "$0/fuse" /dev/fuse && exec "$@"',
)

SYSTEM_PYTHON = "/usr/bin/python3"
USER = "armroot-rl"
NOSUB = "armroot-rl-nosub"


class User(NamedTuple):
    name: str
    uid: int
    gid: int
    home: Path
    sub: IdRange | None

    @property
    def store(self) -> Path:
        return self.home / ".local/share/armroot"


def _subids(name: str, uid: int) -> IdRange | None:
    return userns.parse_subids(Path("/etc/subuid").read_text(), name, uid)


def _add_user(name: str, home: Path, with_range: bool) -> User:
    if subprocess.run(["id", name], capture_output=True).returncode == 0:
        subprocess.run(["userdel", name], check=True)  # left by an interrupted run
    flags = [] if with_range else ["--system"]  # system users get no subordinate ids
    subprocess.run(
        ["useradd", *flags, "--home-dir", str(home), "--create-home", "--shell", "/bin/sh", name],
        check=True,
    )
    entry = pwd.getpwnam(name)
    sub = _subids(name, entry.pw_uid)
    if with_range and sub is None:
        start = userns.free_start(Path("/etc/subuid").read_text(), Path("/etc/subgid").read_text())
        span = f"{start}-{start + 65535}"
        subprocess.run(["usermod", "--add-subuids", span, "--add-subgids", span, name], check=True)
        sub = _subids(name, entry.pw_uid)
    assert (sub is not None) == with_range
    return User(name, entry.pw_uid, entry.pw_gid, home, sub)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="armroot-rootless-", dir="/var/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        safe_remove(path)


@pytest.fixture(scope="module")
def user_armroot(scratch: Path) -> Path:
    """armroot installed for the users: a venv of the system Python, from a copy of this
    checkout (pip would write build files into the checkout itself)."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.fail(f"{SYSTEM_PYTHON} is missing: the rootless tests install armroot with it")
    source = scratch / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    shutil.copytree(REPO / "bin", source / "bin")  # the `armroot` command (script-files)
    venv = scratch / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", str(source)],
        check=True,
        timeout=900,
    )
    return venv / "bin/armroot"


@contextlib.contextmanager
def _temporary_user(name: str, home: Path, with_range: bool) -> Iterator[User]:
    made = _add_user(name, home, with_range)
    try:
        yield made
    finally:
        subprocess.run(["userdel", name], check=False)
        assert _subids(name, made.uid) is None  # a range goes with its user


@pytest.fixture(scope="module")
def user(scratch: Path) -> Iterator[User]:
    with _temporary_user(USER, scratch / "home", with_range=True) as made:
        yield made


@pytest.fixture(scope="module")
def nosub(scratch: Path) -> Iterator[User]:
    with _temporary_user(NOSUB, scratch / "nosub-home", with_range=False) as made:
        yield made


def as_user(
    who: User,
    armroot: Path,
    *args: str,
    path: str = "/usr/local/bin:/usr/bin:/bin",
    wrap: tuple[str, ...] = (),
    timeout: float = 1200,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wrap, *_user_argv(who, armroot, *args, path=path)],
        cwd=who.home,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def _user_argv(who: User, armroot: Path, *args: str, path: str = "/usr/bin:/bin") -> list[str]:
    clean = [f"HOME={who.home}", f"USER={who.name}", f"PATH={path}", "LANG=C.UTF-8"]
    return ["runuser", "-u", who.name, "--", "env", "-i", *clean, str(armroot), *args]


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _on_host(who: User, uid: int, gid: int) -> tuple[int, int]:
    """The host ids of an owner inside the user's namespace: inner 0 is the user, inner n > 0
    the n-th id of the user's subordinate range (uids and gids alike)."""
    subgid = userns.parse_subids(Path("/etc/subgid").read_text(), who.name, who.uid)
    assert who.sub is not None and subgid is not None
    return (
        who.uid if uid == 0 else who.sub.start + uid - 1,
        who.gid if gid == 0 else subgid.start + gid - 1,
    )


def _host_owner(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid


def _owners_of(
    tarball: Path, prune: tuple[str, ...] = ()
) -> tuple[dict[str, tuple[int, int, int]], dict[str, tuple[int, int, int]]]:
    """The (special, plain) paths of the root in ``tarball`` (conftest.telling_owners), with
    what is below ``prune`` left out."""
    from tests.integration.conftest import tarball_owners, telling_owners

    owners = tarball_owners(tarball)
    kept = {
        p: o for p, o in owners.items() if not any(p == c or p.startswith(c + "/") for c in prune)
    }
    return telling_owners(kept)


def _owned_by_subids(top: Path, sub: IdRange, skip: Path | None = None) -> list[Path]:
    found: list[Path] = []
    ids = range(sub.start, sub.start + sub.size)
    for dirpath, dirnames, filenames in os.walk(top, onerror=lambda e: None):
        here = Path(dirpath)
        if skip is not None and here == skip:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            try:
                info = (here / name).lstat()
            except OSError:
                continue
            if info.st_uid in ids or info.st_gid in ids:
                found.append(here / name)
    return found
