"""`armroot run`'s quick path (armroot.quickrun): taken when the env's recorded plan is
current, stepped aside from when anything it was planned from changed, and light on imports."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import armroot, error_lines
from tests.integration.conftest import ArmEnv, make_env

pytestmark = [pytest.mark.root, pytest.mark.qemu]

# Runs quickrun.main as the console script does, and says what it did: its result (None:
# left to the full CLI) and which of the costly modules it imported.
PROBE = """
import sys
from armroot.session import cache as quickrun
code = quickrun.main(sys.argv[1:])
costly = ("typing", "re", "enum", "json", "pathlib", "contextlib", "collections", "argparse")
costly += ("rich",)
print(f"quick={code} costly={sorted(m for m in costly if m in sys.modules)}", file=sys.stderr)
"""


def _quick(
    env: ArmEnv, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, ARMROOT_HOME=str(env.home), **(extra or {}))
    return subprocess.run(
        [sys.executable, "-c", PROBE, "run", env.name, *args],
        env=full,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


def _took(done: subprocess.CompletedProcess[str]) -> str:
    return done.stderr.strip().splitlines()[-1]


def _env_dir(env: ArmEnv) -> Path:
    return env.home / "envs" / env.name


def test_a_plain_run_is_recorded_then_runs_the_quick_way(fresh_arm64: ArmEnv) -> None:
    env = fresh_arm64
    assert _took(_quick(env, "--", "true")) == "quick=None costly=[]"  # nothing recorded yet
    # The first run reads the root's compilers and saves them in the env's metadata: a plan
    # is recorded only by a run during which nothing it depends on changed, the second.
    assert env.run("--", "true").returncode == 0
    assert not (_env_dir(env) / "plan-accel.record").exists()
    assert env.run("--", "true").returncode == 0
    assert (_env_dir(env) / "plan-accel.record").is_file()
    script = 'echo "$X $(pwd) $(uname -m) $(command -v cc)"; exit 3'
    done = _quick(env, "--env", "X=1", "--workdir", "/tmp", "--", "sh", "-c", script)
    assert _took(done) == "quick=3 costly=[]", done.stderr
    assert done.stdout == "1 /tmp aarch64 /run/armroot/accel/bin/cc\n"
    # Without the native compilers: a plan of its own, recorded by its own first run.
    assert _took(_quick(env, "--no-accel", "--", "true")) == "quick=None costly=[]"
    assert env.run("--no-accel", "--", "true").returncode == 0
    done = _quick(env, "--no-accel", "--", "sh", "-c", "command -v cc")
    assert _took(done) == "quick=0 costly=[]"
    assert done.stdout == "/usr/bin/cc\n"
    # What the quick path does not take, the full CLI does.
    assert _took(_quick(env, "--verbose", "--", "true")) == "quick=None costly=[]"
    assert _took(_quick(env, "--no-acc", "--", "true")) == "quick=None costly=[]"
    off = _quick(env, "--", "true", extra={"ARMROOT_QUICK": "0"})
    assert _took(off) == "quick=None costly=[]"


@pytest.fixture(scope="module")
def shared(arm64_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmEnv]:
    """One arm64 env for the tests below, each of which records its plan first."""
    home = tmp_path_factory.mktemp("quick-store")
    env = make_env(arm64_tarball, "arm64", home, "mine")
    yield env
    armroot("rm", env.name, home=home)


def _record(env: ArmEnv) -> None:
    for _ in range(2):  # as above: the second run records
        assert env.run("--", "true").returncode == 0


def test_a_changed_env_host_or_setting_goes_the_full_way(shared: ArmEnv) -> None:
    env = shared
    _record(env)
    assert _took(_quick(env, "--", "true")) == "quick=0 costly=[]"
    # A program added to the root's /usr/bin (a compiler the plan would now use, say).
    assert _took(_quick(env, "--", "touch", "/usr/bin/armroot-test-tool")) == "quick=0 costly=[]"
    assert _took(_quick(env, "--", "true")) == "quick=None costly=[]"
    assert env.run("--", "true").returncode == 0
    assert _took(_quick(env, "--", "true")) == "quick=0 costly=[]"
    # The env's metadata rewritten.
    meta = _env_dir(env) / "armroot.json"
    meta.write_text(meta.read_text())
    assert _took(_quick(env, "--", "true")) == "quick=None costly=[]"
    assert env.run("--", "true").returncode == 0
    # A setting the plan reads.
    assert _took(_quick(env, "--", "true", extra={"ARMROOT_NATIVE_CMAKE": "0"})).startswith(
        "quick=None"
    )
    # A damaged record is not used, and the next full run writes a good one.
    (_env_dir(env) / "plan-accel.record").write_bytes(b"\x00garbage")
    assert _took(_quick(env, "--", "true")) == "quick=None costly=[]"
    assert env.run("--", "true").returncode == 0
    assert _took(_quick(env, "--", "true")) == "quick=0 costly=[]"


def test_a_package_change_in_progress_leaves_the_run_to_the_full_way(shared: ArmEnv) -> None:
    env = shared
    _record(env)
    fd = os.open(_env_dir(env) / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as `armroot install` holds it
        assert _took(_quick(env, "--", "true")) == "quick=None costly=[]"
    finally:
        os.close(fd)
    assert _took(_quick(env, "--", "true")) == "quick=0 costly=[]"


def test_the_quick_way_reports_like_the_full_way(shared: ArmEnv) -> None:
    env = shared
    _record(env)
    full = env.run("--verbose", "--", "no-such-program")  # --verbose: the full way
    quick = _quick(env, "--", "no-such-program")
    assert _took(quick).startswith("quick=127 ")  # (the error's output loads rich)
    assert full.returncode == 127
    assert error_lines(quick.stderr) == error_lines(full.stderr)
    assert error_lines(full.stderr) == [
        "armroot: error: cannot run no-such-program: No such file or directory inside 'mine': "
        "install it in the root, or check the name (armroot run mine -- ls /usr/bin)"
    ]
    # A bad argument: the full CLI says what is wrong.
    assert _took(_quick(env, "--workdir", "tmp", "--", "true")) == "quick=None costly=[]"
    done = env.run("--workdir", "tmp", "--", "true")
    assert done.returncode == 2
    assert "--workdir 'tmp' must be an absolute path" in done.stderr
