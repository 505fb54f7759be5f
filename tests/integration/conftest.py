"""Real ARM roots for integration tests, bootstrapped with mmdebstrap once and cached.

A root is made by ``armroot create --from debian:SUITE`` (the real mmdebstrap path), packed
with GNU tar into the test cache, keyed by everything that made it. Tests then create their
environments from that tarball (the real libarchive path), which takes seconds. A cold cache
costs one bootstrap per architecture (about 5 minutes each on 2 cores), and for the VM tests
one kernel installed into the arm64 and the armhf root (about 6 and 4 minutes); `seed_all`
makes them side by side the first time a test needs a root.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from armroot import __version__
from armroot.images import debian
from armroot.rootfs.arch import by_name
from tests.helpers import (
    TAR,
    HostFiles,
    HostState,
    armroot,
    running_pids,
    stray_processes,
    wait_for,
)

ROOT_SPECS: dict[str, tuple[str, ...]] = {
    # The README's default environment: Debian trixie arm64 with the default packages.
    "arm64": ("--from", "debian:trixie", "--arch", "arm64"),
    # The same for armhf (ARMv7: Pi 2 and newer in 32-bit mode).
    "armhf": ("--from", "debian:trixie", "--arch", "armhf"),
    # A lean armel root (ARMv5TE soft-float, runs on the ARMv6 Pi Zero and Pi 1). Bookworm:
    # the mirror this project's CI reaches answers 404 for current trixie armel packages.
    "armel": (
        "--from",
        "debian:bookworm",
        "--arch",
        "armel",
        "--minimal",
        "--include",
        "gcc,make,libc6-dev",
    ),
}


@pytest.fixture(autouse=True)
def host_is_untouched() -> Iterator[None]:
    """After every integration test (faults.md): no new mount or loop device, no process
    left behind, and the host files a session could touch byte-identical."""
    state, files, pids = HostState.now(), HostFiles.now(), running_pids()
    yield
    assert wait_for(lambda: not stray_processes(pids), timeout=15), stray_processes(pids)
    assert HostState.now() == state
    assert HostFiles.now() == files


def cache_dir() -> Path:
    configured = os.environ.get("ARMROOT_TEST_CACHE")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/armroot-tests")
    return Path.home() / ".cache/armroot-tests"


def _key(arch: str) -> str:
    made_by = {
        "args": ROOT_SPECS[arch],
        "default_include": debian.DEFAULT_INCLUDE,
        "bootstrap_argv": [  # what makes the root (--verbose only changes what it prints)
            a
            for a in debian.DebianBootstrap("SUITE", by_name(arch), "M", ()).mmdebstrap_argv(
                Path("/T")
            )
            if a != "--verbose"
        ],
        "armroot": __version__,
    }
    return hashlib.sha256(json.dumps(made_by, sort_keys=True).encode()).hexdigest()[:16]


def _cached_tarball(tarball: Path, scratch: Path, make_seed: Callable[[Path], None]) -> Path:
    """``tarball`` from the cache, or made now: ``make_seed(home)`` creates an env named
    "seed" in the store ``home``; its root is packed with GNU tar, then the env removed."""
    with open(tarball.with_name(tarball.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.exists():
            return tarball
        home = scratch / f"seed-{tarball.stem}"
        home.mkdir(parents=True, exist_ok=True)
        make_seed(home)
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            [*TAR, "--acls", "-C", str(home / "envs/seed/rootfs"), "-cpf", str(partial), "."],
            check=True,
        )
        partial.rename(tarball)
        armroot("rm", "seed", home=home, check=True)
    return tarball


def cached_root_tarball(arch: str, scratch: Path) -> Path:
    """The cached tarball of a real ``arch`` root, bootstrapping it first if the cache is cold."""
    cache = cache_dir() / "roots"
    cache.mkdir(parents=True, exist_ok=True)
    origin = ROOT_SPECS[arch][1].replace(":", "-")

    def bootstrap(home: Path) -> None:
        # --no-cache: this cache keeps the root itself (test_bootstraps tests armroot's)
        armroot(
            "create", "seed", *ROOT_SPECS[arch], "--no-cache", home=home, timeout=2400, check=True
        )

    return _cached_tarball(cache / f"{origin}-{arch}-{_key(arch)}.tar", scratch, bootstrap)


def cached_vm_tarball(arch: str, base: Path, scratch: Path) -> Path:
    """The ``arch`` root with curl and the kernel `armroot vm --install-kernel` installs
    (cached like the plain roots; a cold cache installs them for real, and boots it once)."""
    from armroot.vm.machine import KERNEL_PACKAGES

    package = KERNEL_PACKAGES[("apt", arch)]

    def install_kernel(home: Path) -> None:
        armroot("create", "seed", "--from", str(base), home=home, check=True)
        armroot("install", "seed", "--host-ca", "curl", home=home, timeout=1200, check=True)
        armroot(
            "vm", "seed", "--install-kernel", "--host-ca", "--", "true",
            home=home, timeout=2400, check=True,
        )  # fmt: skip

    return _cached_tarball(
        base.with_name(f"{base.stem}-{package}-curl.tar"), scratch, install_kernel
    )


# (uid, gid, permission bits with the set-id bits) of a path in a root.
_OWNERS: dict[Path, dict[str, tuple[int, int, int]]] = {}


def tarball_owners(tarball: Path) -> dict[str, tuple[int, int, int]]:
    """(uid, gid, mode & 0o7777) of every regular file and directory in ``tarball``, by its
    path relative to the top ("." for the top): what the root says, so that tests compare an
    env with the root it was made from, not with what one bootstrap happened to produce."""
    import tarfile  # here: the module's imports are edited elsewhere

    if tarball not in _OWNERS:
        found: dict[str, tuple[int, int, int]] = {}
        with tarfile.open(tarball) as tar:
            for member in tar:
                if member.isfile() or member.isdir():
                    found[os.path.normpath(member.name)] = (
                        member.uid,
                        member.gid,
                        member.mode & 0o7777,
                    )
        _OWNERS[tarball] = found
    return _OWNERS[tarball]


def telling_owners(
    owners: dict[str, tuple[int, int, int]],
) -> tuple[dict[str, tuple[int, int, int]], dict[str, tuple[int, int, int]]]:
    """The paths of a root that tell an owner mapping apart: (special, plain). Special: each
    path not owned by root:root or with a set-id bit (every Debian root has some: root:shadow
    unix_chkpwd, root:mail /var/mail); plain: the top and the root-owned directories holding
    them. Fails if the root has no path of either kind."""
    special = {p: o for p, o in owners.items() if o[0] or o[1] or o[2] & 0o6000}
    assert any(o[0] or o[1] for o in special.values()), "no path with a non-root owner"
    holders = {os.path.dirname(p) or "." for p in special} | {"."}
    plain = {p: owners[p] for p in sorted(holders) if p in owners and owners[p][:2] == (0, 0)}
    assert plain, "no root-owned directory above them"
    return special, plain


@dataclass(frozen=True)
class ArmEnv:
    home: Path
    name: str
    arch: str

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return armroot("run", self.name, *args, home=self.home, timeout=timeout)


VM_ARCHES = ("arm64", "armhf")


def seed_all(scratch: Path) -> None:
    """Every cached root a cold cache lacks, made side by side before any test needs one:
    the three bootstraps at once; each root made from one of them (the two kernel installs,
    the Arch-like pacman root) starts as soon as its base is there (each is mostly one
    emulated process, so two cores make them in about half the time one after the other).
    Nothing else runs meanwhile; a warm cache returns at once."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from tests.integration.pacman_root import arch_like_tarball

    def vm(arch: str, base: Future[Path]) -> Path:
        return cached_vm_tarball(arch, base.result(), scratch / f"vm-{arch}")

    def alarm(base: Future[Path]) -> Path:
        return arch_like_tarball(base.result(), scratch / "alarm")

    with ThreadPoolExecutor(len(ROOT_SPECS) + len(VM_ARCHES) + 1) as pool:
        bases = {a: pool.submit(cached_root_tarball, a, scratch / a) for a in ROOT_SPECS}
        derived = [pool.submit(vm, a, bases[a]) for a in VM_ARCHES]
        derived.append(pool.submit(alarm, bases["arm64"]))
        for future in [*bases.values(), *derived]:
            future.result()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> None:
    seed_all(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="session")
def arm64_tarball(tmp_path_factory: pytest.TempPathFactory, seeded: None) -> Path:
    return cached_root_tarball("arm64", tmp_path_factory.mktemp("roots"))


@pytest.fixture(scope="session")
def armel_tarball(tmp_path_factory: pytest.TempPathFactory, seeded: None) -> Path:
    return cached_root_tarball("armel", tmp_path_factory.mktemp("roots"))


@pytest.fixture(scope="session")
def armhf_tarball(tmp_path_factory: pytest.TempPathFactory, seeded: None) -> Path:
    return cached_root_tarball("armhf", tmp_path_factory.mktemp("roots"))


# Enough of the armhf root for dash to run: the smallest real root filesystem (2 MB).
TINY_MEMBERS = (
    "./bin",
    "./lib",
    "./usr/bin/sh",
    "./usr/bin/dash",
    "./usr/bin/cat",
    "./usr/bin/true",
    "./usr/lib/ld-linux-armhf.so.3",
    "./usr/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3",
    "./usr/lib/arm-linux-gnueabihf/libc.so.6",
    "./usr/lib/os-release",
    "./etc/os-release",
)


@pytest.fixture(scope="session")
def tiny_armhf_tarball(armhf_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root of just dash and libc, cut from the armhf root: for cases about the store and
    the session, not about what is in the root."""
    work = tmp_path_factory.mktemp("tiny")
    root = work / "root"
    root.mkdir()
    subprocess.run([*TAR, "-C", str(root), "-xf", str(armhf_tarball), *TINY_MEMBERS], check=True)
    tarball = work / "tiny-armhf.tar"
    subprocess.run([*TAR, "-C", str(root), "-cf", str(tarball), "."], check=True)
    return tarball


def make_env(tarball: Path, arch: str, home: Path, name: str) -> ArmEnv:
    armroot("create", name, "--from", str(tarball), home=home, check=True)
    return ArmEnv(home, name, arch)


@pytest.fixture(scope="session")
def shared_envs(
    tmp_path_factory: pytest.TempPathFactory, arm64_tarball: Path, armhf_tarball: Path
) -> Iterator[dict[str, ArmEnv]]:
    """One arm64 and one armhf environment shared by tests that do not change them."""
    home = tmp_path_factory.mktemp("shared-store")
    envs = {
        "arm64": make_env(arm64_tarball, "arm64", home, "a64"),
        "armhf": make_env(armhf_tarball, "armhf", home, "ahf"),
    }
    yield envs
    for env in envs.values():
        armroot("rm", env.name, home=home)


@pytest.fixture(params=["arm64", "armhf"])
def any_env(request: pytest.FixtureRequest, shared_envs: dict[str, ArmEnv]) -> ArmEnv:
    return shared_envs[str(request.param)]


@pytest.fixture
def fresh_arm64(arm64_tarball: Path, home: Path) -> Iterator[ArmEnv]:
    """An arm64 environment of this test's own, that it may change."""
    env = make_env(arm64_tarball, "arm64", home, "mine")
    yield env
    armroot("rm", env.name, home=home)
