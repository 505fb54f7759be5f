"""`armroot vm`: real Debian arm64 and armhf roots booted with their own kernels under
qemu-system (TCG), a program built by `armroot build` run inside, exit statuses, --persist,
the console, and the bad inputs."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import armroot, error_lines, wait_for
from tests.integration.conftest import (
    ArmEnv,
    cached_vm_tarball,
    make_env,
)

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network, pytest.mark.vm]

MACHINE = {"arm64": "aarch64", "armhf": "armv7l"}

PROBE_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>
int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("vmprobe on %s, kernel %s\n", u.machine, u.release);
    return argc > 1 ? atoi(argv[1]) : 0;
}
"""


@pytest.fixture(scope="module")
def vm_envs(
    tmp_path_factory: pytest.TempPathFactory, arm64_tarball: Path, armhf_tarball: Path
) -> Iterator[dict[str, ArmEnv]]:
    scratch = tmp_path_factory.mktemp("vm-roots")
    home = tmp_path_factory.mktemp("vm-store")
    envs = {
        "arm64": make_env(cached_vm_tarball("arm64", arm64_tarball, scratch), "arm64", home, "v64"),
        "armhf": make_env(cached_vm_tarball("armhf", armhf_tarball, scratch), "armhf", home, "vhf"),
    }
    yield envs
    for env in envs.values():
        armroot("rm", env.name, home=home)


def _kernel_version(env: ArmEnv) -> str:
    boot = env.home / "envs" / env.name / "rootfs/boot"
    (version,) = [
        p.name[len("vmlinuz-") :] for p in boot.iterdir() if p.name.startswith("vmlinuz-")
    ]
    return version


def _vm(env: ArmEnv, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return armroot("vm", env.name, *args, home=env.home, timeout=timeout)


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_boots_own_kernel_and_runs_built_program(
    arch: str, vm_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = vm_envs[arch]
    version = _kernel_version(env)
    src = tmp_path / "probe"
    src.mkdir()
    (src / "probe.c").write_text(PROBE_C)
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(probe C)\nadd_executable(vmprobe probe.c)\n"
    )
    (src / "armroot.toml").write_text('[build]\nartifacts = ["vmprobe"]\n')
    out = tmp_path / "out"
    built = armroot("build", env.name, "--src", str(src), "--out", str(out), home=env.home)
    assert built.returncode == 0, built.stderr[-3000:]
    installed = env.run(
        "--bind", f"{out}:/mnt/out", "--", "cp", "/mnt/out/vmprobe", "/usr/local/bin/"
    )
    assert installed.returncode == 0, installed.stderr

    script = "uname -r && vmprobe && vmprobe 5"
    ran = _vm(env, "--cpus", "2", "--mem", "768M", "--", "sh", "-c", script)
    line = f"vmprobe on {MACHINE[arch]}, kernel {version}\n"
    # The command's output alone (no boot messages), and its exit status is armroot's.
    assert ran.stdout == f"{version}\n" + line + line, ran.stderr[-3000:]
    assert ran.returncode == 5
    assert "booted in" in ran.stderr


def _special_owners(rootfs: Path) -> dict[str, tuple[int, int, int]]:
    """(uid, gid, mode & 0o7777) of each file and directory of ``rootfs`` not owned by
    root:root or with a set-id bit (root:shadow 2755 unix_chkpwd, say): what the root has,
    not what one bootstrap happened to make."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not (os.path.isfile(path) or os.path.isdir(path)):
                continue
            info = os.lstat(path)
            if info.st_uid or info.st_gid or info.st_mode & 0o6000:
                found[os.path.relpath(path, rootfs)] = (
                    info.st_uid,
                    info.st_gid,
                    info.st_mode & 0o7777,
                )
    return found


def test_changes_vanish_unless_persist(vm_envs: dict[str, ArmEnv]) -> None:
    env = vm_envs["arm64"]
    rootfs = env.home / "envs" / env.name / "rootfs"
    before = sorted(os.listdir(rootfs))
    owners = _special_owners(rootfs)
    assert any(uid or gid for uid, gid, _ in owners.values()), owners
    script = "echo kept >/root/from-vm; uname -r >>/root/from-vm; ls /.armroot"
    gone = _vm(env, "--", "sh", "-c", script)
    assert gone.returncode == 0, gone.stderr[-3000:]
    assert gone.stdout.strip() == "init"  # armroot's init is in the VM's disk ...
    assert sorted(os.listdir(rootfs)) == before  # ... and neither it nor the file in the env
    assert not (rootfs / "root/from-vm").exists()

    kept = _vm(env, "--persist", "--", "sh", "-c", script)
    assert kept.returncode == 0, kept.stderr[-3000:]
    assert (rootfs / "root/from-vm").read_text() == f"kept\n{_kernel_version(env)}\n"
    assert sorted(os.listdir(rootfs)) == before  # no /.armroot left behind
    assert os.stat(rootfs / "root/from-vm").st_uid == 0
    assert _special_owners(rootfs) == owners  # owners and set-id bits, through the VM
    assert env.run("--", "cat", "/root/from-vm").stdout.startswith("kept")  # still a root
    env.run("--", "rm", "/root/from-vm")


def test_interactive_console(vm_envs: dict[str, ArmEnv]) -> None:
    """Without a command: the root's systemd boots and root's shell is on the serial console
    (no login: trixie's minimal roots have no `login`); exiting it powers the VM off."""
    env = vm_envs["arm64"]
    main, secondary = pty.openpty()
    full_env = dict(os.environ, ARMROOT_HOME=str(env.home), TERM="dumb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "armroot", "vm", env.name],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=full_env,
        start_new_session=True,
    )
    os.close(secondary)
    seen = b""
    sent = False
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 5)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            after = seen.partition(b"shell on the serial console")[2]
            if not sent and b"# " in after:  # the shell's prompt
                os.write(main, b"echo $((6*7)) $(uname -m); exit\r")
                sent = True
            if proc.poll() is not None:
                break
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    text = seen.decode(errors="replace")
    assert sent, text[-2000:]
    assert "42 aarch64" in text, text[-2000:]
    assert code == 0, text[-2000:]


def test_killed_armroot_takes_the_vm_with_it(vm_envs: dict[str, ArmEnv]) -> None:
    env = vm_envs["arm64"]
    full_env = dict(os.environ, ARMROOT_HOME=str(env.home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "armroot", "vm", env.name, "--", "sleep", "600"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=full_env,
    )
    assert proc.stderr is not None
    line = b""
    while b"Booting" not in line:  # QEMU has started
        line = proc.stderr.readline()
        assert line, "armroot ended before booting"
    time.sleep(3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    # QEMU dies with armroot (the autouse check also looks for it); the work dir it left is
    # removed by the next armroot command.
    staging = env.home / "staging"
    assert any(p.name.startswith("vm-") for p in staging.iterdir())
    armroot("list", home=env.home, check=True)
    assert wait_for(lambda: not any(p.name.startswith("vm-") for p in staging.iterdir()))


# --- bad input: one line, non-zero, nothing made -------------------------------------------


def _one_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_no_kernel(shared_envs: dict[str, ArmEnv]) -> None:
    env = shared_envs["arm64"]
    proc = armroot("vm", env.name, "--", "true", home=env.home)
    _one_line(proc, "has no kernel in /boot", f"armroot vm {env.name} --install-kernel")
    assert "linux-image-arm64" in proc.stderr
    assert not list((env.home / "staging").iterdir())


def test_qemu_system_missing(vm_envs: dict[str, ArmEnv], tmp_path: Path) -> None:
    env = vm_envs["arm64"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mke2fs", "debugfs", "unshare", "cp", "sh"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    proc = armroot("vm", env.name, "--", "true", home=env.home, env={"PATH": str(bin_dir)})
    _one_line(proc, "`qemu-system-aarch64` was not found", "apt-get install qemu-system-arm")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--mem", "100M"), ("not enough memory to boot", "at least 256M")),
        (("--mem", "64T"), ("more than this machine has free",)),
        (("--mem", "lots"), ("is not a size",)),
        (("--cpus", "0"), ("1 to 8 CPUs",)),
        (("--workdir", "rel"), ("must be an absolute path",)),
    ],
)
def test_bad_options(vm_envs: dict[str, ArmEnv], args: tuple[str, ...], words: tuple[str]) -> None:
    env = vm_envs["arm64"]
    proc = armroot("vm", env.name, *args, "--", "true", home=env.home)
    _one_line(proc, *words)
    assert not list((env.home / "staging").iterdir())


def test_armel_root_without_a_kernel_for_the_virt_board(armel_tarball: Path, home: Path) -> None:
    """Debian armel has no kernel for QEMU's virt board: armroot says so, before booting."""
    make_env(armel_tarball, "armel", home, "old")
    proc = armroot("vm", "old", "--", "true", home=home)
    _one_line(proc, "'old' has no kernel in /boot", "install a kernel for QEMU's virt board")
    asked = armroot("vm", "old", "--install-kernel", "--", "true", home=home)
    _one_line(asked, "does not know a kernel package of 'old' (apt, armel)")
    armroot("rm", "old", home=home, check=True)


def test_unknown_env(home: Path) -> None:
    _one_line(armroot("vm", "nope", "--", "true", home=home), "no environment named 'nope'")


def test_https_in_the_vm_needs_host_ca_here(vm_envs: dict[str, ArmEnv]) -> None:
    """Without --host-ca the VM trusts what the root's own CA store trusts: behind a
    TLS-intercepting proxy (as this machine's) it refuses (curl 60), as a session in the
    same root does; --host-ca makes the host's bundle trusted in the VM, verification on."""
    env = vm_envs["arm64"]
    url = "https://deb.debian.org/debian/"
    in_session = env.run("--", "curl", "-sS", "-o", "/dev/null", url)
    assert in_session.returncode in (0, 60), in_session.stderr  # trusted, or intercepted
    refused = _vm(env, "--", "curl", "-sS", "-o", "/dev/null", url)
    assert refused.returncode == in_session.returncode, refused.stdout + refused.stderr[-2000:]
    trusted = _vm(
        env, "--host-ca", "--", "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url
    )
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr[-2000:]
    assert trusted.stdout == "200"


def test_install_kernel_adds_the_driver_hook_to_a_kernel_already_there(
    vm_envs: dict[str, ArmEnv],
) -> None:
    """--install-kernel on a root whose kernel is installed but whose initramfs came without
    armroot's hook: the hook is written inside the env, the initramfs rebuilt, and it boots.
    (A cold test cache also runs the first-install path: cached_vm_tarball.)"""
    from armroot.vm.machine import INITRAMFS_HOOK, INITRAMFS_HOOK_TEXT

    env = vm_envs["armhf"]
    hook = env.home / "envs" / env.name / "rootfs" / INITRAMFS_HOOK.lstrip("/")
    assert hook.read_text() == INITRAMFS_HOOK_TEXT
    assert env.run("--", "rm", INITRAMFS_HOOK).returncode == 0
    proc = _vm(env, "--install-kernel", "--", "cat", "/proc/cmdline")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Adding the virt board's drivers" in proc.stderr
    assert "Rebuilding the initramfs of" in proc.stderr
    assert "Installing" not in proc.stderr  # the kernel was there
    assert hook.read_text() == INITRAMFS_HOOK_TEXT and os.access(hook, os.X_OK)
    assert "ip=10.0.2.15" in proc.stdout  # with the hook, the initramfs brings up the network
