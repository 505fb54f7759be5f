"""Test-suite wide setup: what each marker needs, and skipping (or, in CI, failing) without it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from armroot.host import binfmt
from armroot.rootfs.arch import ARM64, ARMHF

# Sessions the suite starts take the clang path unless a test asks otherwise: the tests were
# written for it, and each test's store has a cache of its own, which twins would fill with
# the archive's compilers again and again. The twins tests (test_twins_session) ask for the
# default, auto, and for twins themselves; the rootless tests start armroot with a clean
# environment, so the user's sessions there take the default too.
os.environ["ARMROOT_ACCEL"] = "clang"


def _missing(marker: str) -> str | None:
    if marker == "root" and os.geteuid() != 0:
        return "needs root"
    if marker == "qemu":
        if shutil.which("qemu-aarch64-static") is None:
            return "needs qemu-user-static"
        if binfmt.handler_for(ARM64) is None or binfmt.handler_for(ARMHF) is None:
            return "needs binfmt handlers (sudo armroot doctor --fix)"
    if marker == "network" and os.environ.get("ARMROOT_TEST_OFFLINE"):
        return "ARMROOT_TEST_OFFLINE is set"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    in_ci = os.environ.get("CI") == "true"
    for item in items:
        for marker in ("root", "qemu", "network"):
            if item.get_closest_marker(marker) is None:
                continue
            reason = _missing(marker)
            if reason is None:
                continue
            # In CI a missing requirement is a broken machine: let the test run and fail.
            if not in_ci:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty armroot store for one test."""
    path = tmp_path / "store"
    path.mkdir()
    return path
