"""`armroot install` with twins (apt-get, apt's download methods, dpkg-deb and the maintainer
scripts' shell and tools native) makes the root the fully emulated install makes: real roots, the
real archive, the session's own binfmt_misc handler."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import armroot
from tests.integration.conftest import make_env
from tests.integration.root_trees import packages, tree

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network]

# automake: perl, update-alternatives and a trigger in its scripts; libogg-dev: a library,
# headers and pkg-config files; together some 30 packages' worth of unpacking.
PACKAGES = ("automake", "libogg-dev")
# What two installs write differently however they run: the logs (times), apt's binary
# caches (built with the time in them), ldconfig's (each library's inode and ctime) and
# debconf's backups (written in another order).
VARYING = re.compile(
    r"^(var/log/.*|var/cache/apt/(pkgcache|srcpkgcache)\.bin|var/cache/ldconfig/aux-cache"
    r"|var/cache/debconf/.*-old)$"
)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def test_an_install_with_twins_is_the_emulated_install(arm64_tarball: Path, home: Path) -> None:
    envs = {
        mode: make_env(arm64_tarball, "arm64", home, f"inst-{mode}") for mode in ("auto", "none")
    }
    try:
        for mode, env in envs.items():
            mine = {"ARMROOT_ACCEL": mode}
            _ok(armroot("run", env.name, "--", "true", home=home, env=mine))  # twins fetched
            _ok(armroot("install", env.name, *PACKAGES, home=home, env=mine, timeout=1800))
        roots = {mode: home / "envs" / env.name / "rootfs" for mode, env in envs.items()}
        assert packages(roots["auto"]) == packages(roots["none"])
        assert {"automake", "libogg-dev"} <= {p[0] for p in packages(roots["auto"])}
        ours, theirs = (tree(roots[mode]) for mode in ("auto", "none"))
        assert ours.keys() == theirs.keys()
        differ = sorted(p for p in ours if ours[p] != theirs[p] and not VARYING.match(p))
        assert differ == [], differ
        assert "usr/include/ogg/ogg.h" in ours and "var/lib/dpkg/alternatives/automake" in ours
        # The twins did the work: apt-get, apt's methods and dpkg-deb ran natively.
        deb = "/var/cache/apt/archives/libogg-dev_*_arm64.deb"
        verbose = armroot(
            "run", "-v", envs["auto"].name, "--", "sh", "-c",
            f"apt-get update -q >/dev/null && dpkg-deb --fsys-tarfile {deb} | wc -c",
            home=home, env={"ARMROOT_ACCEL": "auto"}, timeout=600,
        )  # fmt: skip
        said = _ok(verbose)
        for program in ("/usr/bin/apt-get", "/usr/lib/apt/methods/http", "/usr/bin/dpkg-deb"):
            assert re.search(rf"armroot twins: {program}: native twin /run/armroot/", said), said
        assert int(verbose.stdout.split()[-1]) > 10_000
    finally:
        for env in envs.values():
            armroot("rm", env.name, home=home)
