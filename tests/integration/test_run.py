"""Run commands in real armhf and arm64 roots under QEMU (needs root, qemu, network)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from armroot.rootfs import elfinfo
from tests.helpers import (
    HostState,
    armroot,
    assert_session_gone,
    children_of,
    error_lines,
    namespace_of,
    processes_in_namespace,
    wait_for,
)
from tests.integration.conftest import ArmEnv

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network]

HELLO = r"""
#include <iostream>
#include <string>
#include <sys/utsname.h>
int main() {
    utsname u;
    uname(&u);
    std::string machine = u.machine;
    std::cout << "hello from " << machine << std::endl;
    return 0;
}
"""


def test_uname_reports_the_roots_machine(any_env: ArmEnv) -> None:
    before = HostState.now()
    proc = any_env.run("--", "uname", "-m")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == {"arm64": "aarch64", "armhf": "armv7l"}[any_env.arch]
    assert HostState.now() == before


def test_compile_and_run_cpp_with_the_roots_gxx(any_env: ArmEnv, tmp_path: Path) -> None:
    src = tmp_path / "src dir"  # a space in the bind path
    src.mkdir()
    (src / "hello.cpp").write_text(HELLO)
    proc = any_env.run(
        "--bind",
        f"{src}:/work",
        "--workdir",
        "/work",
        "--",
        "sh",
        "-c",
        "g++ -O2 -o hello hello.cpp && ./hello",
    )
    assert proc.returncode == 0, proc.stderr
    machine = {"arm64": "aarch64", "armhf": "armv7l"}[any_env.arch]
    assert proc.stdout.strip() == f"hello from {machine}"
    info = elfinfo.read(src / "hello")
    arch = info.arch()
    assert arch is not None and arch.name == any_env.arch


def test_exit_status_and_missing_command(any_env: ArmEnv) -> None:
    assert any_env.run("--", "sh", "-c", "exit 7").returncode == 7
    missing = any_env.run("--", "no-such-program")
    assert missing.returncode == 127
    assert len(error_lines(missing.stderr)) == 1
    assert "no-such-program" in missing.stderr


def test_session_sees_its_own_proc_dev_and_tmp(any_env: ArmEnv) -> None:
    script = (
        "test $$ -le 3 && test -c /dev/null && test -c /dev/urandom && test -L /dev/fd "
        "&& test -e /dev/pts/ptmx && test -L /etc/mtab && touch /tmp/x && "
        "! touch /sys/armroot-probe 2>/dev/null && grep -q ' /tmp tmpfs' /proc/mounts && echo ok"
    )
    proc = any_env.run("--", "sh", "-c", script)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_env_and_workdir_options(any_env: ArmEnv) -> None:
    proc = any_env.run(
        "--env",
        "GREETING=hi there",
        "--workdir",
        "/etc",
        "--",
        "sh",
        "-c",
        'echo "$GREETING in $(pwd)"',
    )
    assert proc.stdout.strip() == "hi there in /etc"


def test_apt_get_install_and_https_with_host_ca(fresh_arm64: ArmEnv) -> None:
    install = fresh_arm64.run(
        "--",
        "sh",
        "-c",
        "DEBIAN_FRONTEND=noninteractive apt-get update -q && "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl",
        timeout=1200,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    fetch = fresh_arm64.run(
        "--host-ca",
        "--",
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://deb.debian.org/debian/dists/trixie/Release",
    )
    assert fetch.returncode == 0, fetch.stderr
    assert fetch.stdout.strip() == "200"
    # Inside, the trusted bundle is byte-for-byte the host's.
    digest = fresh_arm64.run("--host-ca", "--", "sh", "-c", 'sha256sum "$SSL_CERT_FILE"')
    host_bundle = os.path.realpath(
        os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    )
    expected = hashlib.sha256(Path(host_bundle).read_bytes()).hexdigest()
    assert digest.stdout.split()[0] == expected


def _start(env: ArmEnv, *command: str, marker_dir: Path) -> subprocess.Popen[str]:
    full = dict(os.environ, ARMROOT_HOME=str(env.home))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "armroot",
            "run",
            env.name,
            "--bind",
            f"{marker_dir}:/mark",
            "--",
            *command,
        ],
        env=full,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_of_armroot_leaves_no_mount_or_process(
    shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs["arm64"]
    before = HostState.now()
    proc = _start(
        env,
        "sh",
        "-c",
        "sleep 300 & setsid sleep 300 & echo up > /mark/ready; wait",
        marker_dir=tmp_path,
    )
    try:
        assert wait_for(lambda: (tmp_path / "ready").exists(), timeout=60), proc.stderr
        inside = children_of(proc.pid)
        assert len(inside) >= 4  # helper, init, sh, two sleeps
        deepest = inside[-1]
        pid_ns = namespace_of(deepest, "pid")
        mnt_ns = namespace_of(deepest, "mnt")
        assert pid_ns and mnt_ns and mnt_ns != namespace_of(os.getpid(), "mnt")
    finally:
        proc.kill()
        proc.wait()
    assert_session_gone(inside, pid_ns, mnt_ns)
    assert HostState.now() == before
    info = armroot("info", env.name, "--json", home=env.home)
    assert '"in_use": false' in info.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_are_forwarded_and_reported(
    shared_envs: dict[str, ArmEnv], tmp_path: Path, sig: signal.Signals
) -> None:
    env = shared_envs["arm64"]
    proc = _start(
        env,
        "sh",
        "-c",
        f'trap "echo caught; exit 42" {sig.name.removeprefix("SIG")}; '
        "echo up > /mark/ready; while :; do sleep 0.2; done",
        marker_dir=tmp_path,
    )
    assert wait_for(lambda: (tmp_path / "ready").exists(), timeout=60)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 42, err
    assert out.strip() == "caught"


def test_killed_command_reports_the_signal(shared_envs: dict[str, ArmEnv], tmp_path: Path) -> None:
    env = shared_envs["arm64"]
    proc = _start(env, "sh", "-c", "echo up > /mark/ready; exec sleep 300", marker_dir=tmp_path)
    assert wait_for(lambda: (tmp_path / "ready").exists(), timeout=60)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM


def test_daemons_die_with_the_session(shared_envs: dict[str, ArmEnv], tmp_path: Path) -> None:
    env = shared_envs["arm64"]
    proc = env.run(
        "--bind",
        f"{tmp_path}:/mark",
        "--",
        "sh",
        "-c",
        "readlink /proc/self/ns/pid > /mark/ns; setsid sleep 300 >/dev/null 2>&1 & echo started",
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "started"
    ns = (tmp_path / "ns").read_text().strip()
    assert ns.startswith("pid:[")
    assert wait_for(lambda: not processes_in_namespace(ns, "pid"), timeout=20)


def test_concurrent_runs_work_and_rm_refuses_meanwhile(fresh_arm64: ArmEnv, tmp_path: Path) -> None:
    first = _start(
        fresh_arm64, "sh", "-c", "echo a > /mark/a; sleep 3; uname -m", marker_dir=tmp_path
    )
    second = _start(
        fresh_arm64, "sh", "-c", "echo b > /mark/b; sleep 3; uname -m", marker_dir=tmp_path
    )
    # The first runs in a fresh store also build the native toolchain's shim and fetch the
    # root's cmake version from PyPI (network-bound). Both create the mount point /mark at
    # the same moment: that race once failed one of them (EEXIST), now handled in apply.

    def both() -> bool:
        return (tmp_path / "a").exists() and (tmp_path / "b").exists()

    def failed() -> bool:
        return any(p.poll() not in (None, 0) for p in (first, second))

    wait_for(lambda: both() or failed(), timeout=300)
    if not both():
        for proc in (first, second):
            proc.kill()
        said = [proc.communicate(timeout=60) for proc in (first, second)]
        pytest.fail(f"the two runs did not both start: {said}")
    rm = armroot("rm", fresh_arm64.name, home=fresh_arm64.home)
    assert rm.returncode == 5
    assert len(error_lines(rm.stderr)) == 1 and "in use" in rm.stderr
    for proc in (first, second):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == "aarch64"
    assert armroot("rm", fresh_arm64.name, home=fresh_arm64.home).returncode == 0
    assert not (fresh_arm64.home / "envs" / fresh_arm64.name).exists()


def test_rm_refuses_a_mount_under_the_env_and_leaves_it(fresh_arm64: ArmEnv) -> None:
    target = fresh_arm64.home / "envs" / fresh_arm64.name / "rootfs" / "mnt"
    subprocess.run(["mount", "-t", "tmpfs", "armroot-test", str(target)], check=True)
    try:
        (target / "user-file").write_text("mine")
        rm = armroot("rm", fresh_arm64.name, home=fresh_arm64.home)
        assert rm.returncode != 0 and "mounted below it" in rm.stderr
        assert (target / "user-file").read_text() == "mine"
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert armroot("rm", fresh_arm64.name, home=fresh_arm64.home).returncode == 0


def _replace_with_link(path: Path, target: str) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def test_root_symlinks_resolve_inside_the_root_never_on_the_host(fresh_arm64: ArmEnv) -> None:
    rootfs = fresh_arm64.home / "envs" / fresh_arm64.name / "rootfs"
    host_paths = [
        Path("/etc/resolv.conf"),
        Path("/etc/hosts"),
        Path("/etc/mtab"),
        Path("/run/systemd/resolve"),
        Path("/tmp/armroot-hosts-elsewhere"),
    ]

    def snapshot() -> dict[Path, tuple[str, bytes | None]]:
        return {
            p: (os.path.realpath(p), p.read_bytes() if p.is_file() else None)
            for p in host_paths
            if os.path.lexists(p)
        }

    before = snapshot()
    _replace_with_link(rootfs / "etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf")
    _replace_with_link(rootfs / "etc/hosts", "/tmp/armroot-hosts-elsewhere")
    _replace_with_link(rootfs / "etc/mtab", "/proc/self/mounts")
    proc = fresh_arm64.run("--", "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts")
    assert proc.returncode == 0, proc.stderr
    resolv, hosts = proc.stdout.split("---\n")
    assert resolv == Path("/etc/resolv.conf").read_text()
    assert hosts == Path("/etc/hosts").read_text()
    assert snapshot() == before
    assert not os.path.lexists("/tmp/armroot-hosts-elsewhere")


def test_a_symlink_loop_at_resolv_conf_is_a_warning(fresh_arm64: ArmEnv) -> None:
    rootfs = fresh_arm64.home / "envs" / fresh_arm64.name / "rootfs"
    host = Path("/etc/resolv.conf").read_bytes()
    _replace_with_link(rootfs / "etc/resolv.conf", "/etc/resolv.conf")  # a loop inside the root
    proc = fresh_arm64.run("--", "echo", "ok")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok"
    assert "resolv.conf" in proc.stderr and "too many levels of symbolic links" in proc.stderr
    assert Path("/etc/resolv.conf").read_bytes() == host


def test_many_runs_leave_nothing_behind(shared_envs: dict[str, ArmEnv]) -> None:
    env = shared_envs["armhf"]
    before = HostState.now()
    for _ in range(5):
        assert env.run("--", "true").returncode == 0
    assert HostState.now() == before
