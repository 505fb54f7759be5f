"""pacman 7 under armroot (issue 18, item 2): Debian trixie's pacman 7.0 in an arm64 root set
up as Arch Linux ARM ships it (DownloadUser = alpm, signatures required), a repository over
http on 127.0.0.1. Rootless: tests/integration/test_rootless.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import HostState, armroot
from tests.integration.conftest import make_env
from tests.integration.images_fixtures import serve
from tests.integration.pacman_root import (
    CHECK,
    EXPECTED,
    MIRRORLIST,
    REPO_INSIDE,
    arch_like_tarball,
)

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def arch_like(arm64_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return arch_like_tarball(arm64_tarball, tmp_path_factory.mktemp("arch-like"))


def test_install_and_a_typed_pacman_syu_with_arch_linux_arms_config(
    arch_like: Path, home: Path
) -> None:
    before = HostState.now()
    env = make_env(arch_like, "arm64", home, "alarm")
    rootfs = home / "envs" / env.name / "rootfs"
    conf = (rootfs / "etc/pacman.conf").read_bytes()
    assert b"DownloadUser = alpm" in conf and b"DisableSandbox\n" not in conf
    with serve(rootfs / REPO_INSIDE.lstrip("/")) as server:
        listed = armroot("run", env.name, "--", "sh", "-c", MIRRORLIST, server.url, home=home)
        assert listed.returncode == 0, listed.stderr
        # what a session without armroot's wrapper meets: pacman 7's Landlock under QEMU
        bare = armroot("run", env.name, "--", "/usr/bin/pacman", "-Sy", home=home)
        assert "landlock is not supported" in bare.stdout + bare.stderr
        installed = armroot("install", env.name, "armroot-probe", home=home, timeout=900)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert "pacman-key --init" in installed.stderr
        assert "installed with pacman: armroot-probe" in installed.stderr
        typed = armroot(
            "run", env.name, "--", "pacman", "-Syu", "--noconfirm", "armroot-probe2", home=home
        )
        assert typed.returncode == 0, typed.stdout + typed.stderr
        assert "landlock" not in typed.stdout + typed.stderr + installed.stderr
        fetched = {path.rsplit("/", 1)[-1] for path, _ in server.requests}
        assert {"probe.db", "armroot-probe-1.0-1-any.pkg.tar.gz"} <= fetched
        assert "armroot-probe2-1.0-1-any.pkg.tar.gz" in fetched
        upgraded = armroot("upgrade", env.name, home=home)
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        again = armroot("install", env.name, "armroot-probe", home=home)  # --needed: no-op
        assert again.returncode == 0 and "pacman-key --init" not in again.stderr
    check = armroot("run", env.name, "--", "sh", "-c", CHECK, home=home)
    assert check.stdout.split() == EXPECTED, check.stdout + check.stderr
    assert (rootfs / "etc/pacman.conf").read_bytes() == conf  # unchanged on disk
    assert armroot("rm", env.name, home=home).returncode == 0
    assert HostState.now() == before
