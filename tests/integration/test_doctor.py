"""`armroot doctor` on the real host, and sessions with a binfmt handler lacking the F flag."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from armroot.host import binfmt
from armroot.rootfs.arch import ARMHF
from tests.helpers import HostState, armroot
from tests.integration.conftest import ArmEnv

pytestmark = [pytest.mark.root, pytest.mark.qemu]


def _doctor(home: Path, *args: str) -> tuple[int, dict[str, str]]:
    proc = armroot("doctor", "--json", *args, home=home)
    data = json.loads(proc.stdout)
    return proc.returncode, {c["name"]: c["status"] for c in data["checks"]}


def test_doctor_passes_on_a_set_up_host(home: Path) -> None:
    code, checks = _doctor(home)
    assert code == 0
    assert checks["binfmt_misc"] == "ok"
    assert checks["qemu-arm handler"] == "ok" and checks["qemu-aarch64 handler"] == "ok"
    assert checks["mmdebstrap"] == "ok" and checks["libarchive"] == "ok"


@pytest.mark.network
def test_handler_without_f_flag_binds_qemu_and_fix_restores_it(
    shared_envs: dict[str, ArmEnv],
) -> None:
    env = shared_envs["armhf"]
    handler = binfmt.handler_for(ARMHF)
    assert handler is not None
    interpreter = os.path.realpath(shutil.which("qemu-arm-static") or "qemu-arm-static")
    before = HostState.now()
    try:
        binfmt.remove(handler.name)
        binfmt.register(binfmt.registration(ARMHF, interpreter, flags="OP"))
        code, checks = _doctor(env.home)
        assert code == 0 and checks["qemu-arm handler"] == "warn"
        proc = env.run("--", "uname", "-m")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "armv7l"
    finally:
        fixed = armroot("doctor", "--fix", home=env.home)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "registered qemu-arm" in fixed.stdout
    restored = binfmt.handler_for(ARMHF)
    assert restored is not None and restored.fix_binary and restored.enabled
    assert HostState.now() == before
