"""The plan cache on `armroot run`'s one path: a session plans from the env's record while
what made it is unchanged, plans afresh (and records again) when anything changed, and
starts without the costly modules (armroot.session's light rule)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from armroot.session import COSTLY
from tests.helpers import armroot, error_lines
from tests.integration.conftest import ArmEnv, make_env

pytestmark = [pytest.mark.root, pytest.mark.qemu]

# Runs the launcher's plain path as the console script does, and says what it did: the exit
# status (None: left to argparse, the full CLI), whether the env's part was planned afresh (a cache
# miss imports armroot.session.planning) and, on a hit, which costly modules it imported.
PROBE = f"""
import sys
from armroot.cli import launch, plain
before, command = plain.split_command(sys.argv[1:])
args = plain.parse(before, command)
code = launch.run_plain(args, command) if args else None
if args is None:
    took = "argparse's"
elif "armroot.session.planning" in sys.modules:
    took = "miss"
else:
    took = "hit costly=" + ",".join(m for m in {COSTLY!r} if m in sys.modules)
print(f"code={{code}} {{took}}", file=sys.stderr)
"""
HIT = "hit costly="


def _run(
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


def test_a_plain_run_is_recorded_then_planned_from_the_cache(fresh_arm64: ArmEnv) -> None:
    env = fresh_arm64
    # The first run reads the root's compilers and saves them in the env's metadata: a plan
    # is recorded only by a run during which nothing it depends on changed, the second.
    assert _took(_run(env, "--", "true")) == "code=0 miss"
    assert not (_env_dir(env) / "plan-clang.record").exists()
    assert _took(_run(env, "--", "true")) == "code=0 miss"
    assert (_env_dir(env) / "plan-clang.record").is_file()
    script = 'echo "$X $(pwd) $(uname -m) $(command -v cc)"; exit 3'
    done = _run(env, "--env", "X=1", "--workdir", "/tmp", "--", "sh", "-c", script)
    assert _took(done) == f"code=3 {HIT}", done.stderr
    assert done.stdout == "1 /tmp aarch64 /run/armroot/ccache/bin/cc\n"
    # Without the native compilers: a record of its own, made by its own first run.
    assert _took(_run(env, "--no-accel", "--", "true")) == "code=0 miss"
    done = _run(env, "--no-accel", "--", "sh", "-c", "command -v cc")
    assert _took(done) == f"code=0 {HIT}"
    assert done.stdout == "/usr/bin/cc\n"
    # --verbose plans afresh (the native compilers then echo what they run); an
    # abbreviation is argparse's; ARMROOT_QUICK=0 turns the cache off.
    assert _took(_run(env, "--verbose", "--", "true")) == "code=0 miss"
    assert _took(_run(env, "--no-acc", "--", "true")) == "code=None argparse's"
    assert _took(_run(env, "--", "true", extra={"ARMROOT_QUICK": "0"})) == "code=0 miss"
    # The real command takes the same path.
    assert env.run("--", "true").returncode == 0


@pytest.fixture(scope="module")
def shared(arm64_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmEnv]:
    """One arm64 env for the tests below, each of which records its plan first."""
    home = tmp_path_factory.mktemp("cache-store")
    env = make_env(arm64_tarball, "arm64", home, "mine")
    yield env
    armroot("rm", env.name, home=home)


def _record(env: ArmEnv) -> None:
    for _ in range(2):  # as above: the second run records
        assert env.run("--", "true").returncode == 0


def test_a_changed_env_host_or_setting_is_planned_afresh(shared: ArmEnv) -> None:
    env = shared
    _record(env)
    assert _took(_run(env, "--", "true")) == f"code=0 {HIT}"
    # A program added to the root's /usr/bin (a compiler the plan would now use, say).
    assert _took(_run(env, "--", "touch", "/usr/bin/armroot-test-tool")) == f"code=0 {HIT}"
    assert _took(_run(env, "--", "true")) == "code=0 miss"  # ... which records again
    assert _took(_run(env, "--", "true")) == f"code=0 {HIT}"
    # The env's metadata rewritten.
    meta = _env_dir(env) / "armroot.json"
    meta.write_text(meta.read_text())
    assert _took(_run(env, "--", "true")) == "code=0 miss"
    assert _took(_run(env, "--", "true")) == f"code=0 {HIT}"
    # A setting the plan reads.
    assert _took(_run(env, "--", "true", extra={"ARMROOT_NATIVE_CMAKE": "0"})) == "code=0 miss"
    # A damaged record is not used, and the next run writes a good one.
    _record(env)
    (_env_dir(env) / "plan-clang.record").write_bytes(b"\x00garbage")
    assert _took(_run(env, "--", "true")) == "code=0 miss"
    assert _took(_run(env, "--", "true")) == f"code=0 {HIT}"


def test_a_run_waits_for_a_package_change_in_progress(shared: ArmEnv) -> None:
    env = shared
    _record(env)
    fd = os.open(_env_dir(env) / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as `armroot install` holds it
        full = dict(os.environ, ARMROOT_HOME=str(env.home))
        waiting = subprocess.Popen(
            [sys.executable, "-c", PROBE, "run", env.name, "--", "true"],
            env=full,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(3)
        assert waiting.poll() is None  # still waiting
    finally:
        os.close(fd)
    _, stderr = waiting.communicate(timeout=300)
    assert "waiting for 'mine': another armroot is changing it" in stderr
    assert stderr.strip().splitlines()[-1] == "code=0 miss"
    assert _took(_run(env, "--", "true")) == f"code=0 {HIT}"


def test_a_cached_plan_reports_like_a_fresh_one(shared: ArmEnv) -> None:
    env = shared
    _record(env)
    fresh = env.run("--verbose", "--", "no-such-program")  # --verbose: planned afresh
    cached = _run(env, "--", "no-such-program")
    assert _took(cached).startswith("code=127 hit")  # (the error's output loads rich)
    assert fresh.returncode == 127
    assert error_lines(cached.stderr) == error_lines(fresh.stderr)
    assert error_lines(fresh.stderr) == [
        "armroot: error: cannot run no-such-program: No such file or directory inside 'mine': "
        "install it in the root, or check the name (armroot run mine -- ls /usr/bin)"
    ]
    # A bad argument: the same line either way.
    done = _run(env, "--workdir", "tmp", "--", "true")
    assert _took(done).startswith("code=2 hit")
    assert error_lines(done.stderr) == [
        "armroot: error: --workdir 'tmp' must be an absolute path inside the root: "
        "for example --workdir /src"
    ]
    assert env.run("--workdir", "tmp", "--", "true").returncode == 2
