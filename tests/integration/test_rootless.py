"""Rootless armroot: an ordinary user with a subordinate id range creates, runs, installs,
builds and removes, with no sudo.

The suite (as root) makes two users: one with a subuid/subgid range and one without. The
user's armroot is a real install: a venv of the system Python (/usr/bin/python3: the
suite's own interpreter may live where the user cannot read) with armroot installed from a
copy of this checkout. Everything lives in a world-readable scratch directory under
/var/tmp that is removed afterwards, and the users are deleted (userdel drops their
subordinate ranges too).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import (
    HostState,
    assert_session_gone,
    children_of,
    error_lines,
    namespace_of,
    wait_for,
)
from tests.integration import rootless_users
from tests.integration.conftest import cache_dir, cached_vm_tarball
from tests.integration.images_fixtures import ImageFixtures, build, serve
from tests.integration.pacman_root import (
    CHECK,
    EXPECTED,
    MIRRORLIST,
    REPO_INSIDE,
    arch_like_tarball,
)
from tests.integration.rootless_users import (
    FUSE_WRAP,
    NOSUB,
    USER,
    User,
    _host_owner,
    _ok,
    _on_host,
    _owned_by_subids,
    _owners_of,
    _user_argv,
    as_user,
)

# network: pip installs armroot and its dependencies for the users from PyPI.
pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network, pytest.mark.unprivileged]

# The users and their armroot (fixtures of rootless_users), for pytest to find here.
scratch = rootless_users.scratch
user_armroot = rootless_users.user_armroot
user = rootless_users.user
nosub = rootless_users.nosub


def test_doctor_explains_what_rootless_use_needs(
    user: User, nosub: User, user_armroot: Path
) -> None:
    ready = as_user(user, user_armroot, "doctor")
    assert f"[ok  ] rootless: {USER}: user namespaces allowed" in _ok(ready)
    assert user.sub is not None and f"{user.sub.start}-" in ready.stdout
    missing = as_user(nosub, user_armroot, "doctor")
    assert missing.returncode != 0
    assert f"[FAIL] rootless: {NOSUB}: /etc/subuid has no range for {NOSUB}" in missing.stdout
    assert "usermod --add-subuids" in missing.stdout


def test_no_range_and_no_newuidmap_are_one_line_errors_and_leave_nothing(
    user: User, nosub: User, user_armroot: Path, armhf_tarball: Path
) -> None:
    proc = as_user(nosub, user_armroot, "create", "x", "--from", str(armhf_tarball))
    assert proc.returncode != 0
    assert error_lines(proc.stderr) == [
        f"armroot: error: /etc/subuid has no range for {NOSUB}: sudo usermod --add-subuids "
        + proc.stderr.split("--add-subuids ", 1)[1].strip()
    ]
    assert not (nosub.store / "envs").exists()
    proc = as_user(user, user_armroot, "run", "x", "--", "true", path="/nonexistent")
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "newuidmap is not installed" in lines[0], proc.stderr


# Runs argv[1:] in a new user namespace (identity-mapped, made by root) whose
# user.max_user_namespaces is 0: the limit is per user namespace, so the host's stays as it
# is while the command sees user namespaces switched off.
NAMESPACES_OFF = """
import os, sys
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    from armroot.host import syscalls
    syscalls.unshare(syscalls.CLONE_NEWUSER)
    os.write(ready_w, b"x")
    os.read(go_r, 1)
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")
    os.execvp(sys.argv[1], sys.argv[1:])
os.read(ready_r, 1)
for kind in ("uid_map", "gid_map"):
    with open(f"/proc/{pid}/{kind}", "w") as f:
        f.write("0 0 4294967295")
os.write(go_w, b"x")
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_user_namespaces_switched_off_are_named(user: User, user_armroot: Path) -> None:
    as_the_user = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups"]
    clean = ["env", "-i", f"HOME={user.home}", "PATH=/usr/bin:/bin"]
    command = [str(user_armroot), "run", "x", "--", "true"]
    proc = subprocess.run(
        [sys.executable, "-c", NAMESPACES_OFF, *as_the_user, *clean, *command],
        cwd=user.home,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert error_lines(proc.stderr) == [
        "armroot: error: user namespaces are disabled (sysctl user.max_user_namespaces = 0): "
        "sudo sysctl -w user.max_user_namespaces=65536 (and the same line in /etc/sysctl.d/ "
        "to keep it)"
    ]
    assert Path("/proc/sys/user/max_user_namespaces").read_text().strip() != "0"


@pytest.fixture(scope="module")
def hf(user: User, user_armroot: Path, armhf_tarball: Path) -> str:
    before = HostState.now()
    created = as_user(user, user_armroot, "create", "hf", "--from", str(armhf_tarball))
    assert "device nodes" in _ok(created) + created.stderr  # skipped: no mknod rootless
    assert HostState.now() == before
    return "hf"


def test_a_tarball_env_is_owned_by_the_user_and_its_subordinate_ids(
    user: User, user_armroot: Path, hf: str, armhf_tarball: Path
) -> None:
    """The owners the root's tarball gives (not what one bootstrap happened to make): on the
    host each is the user (inner 0) or its subordinate id (inner n), inside the same again."""
    rootfs = user.store / "envs" / hf / "rootfs"
    special, plain = _owners_of(armhf_tarball)
    sample = {**plain, **special}  # "." (the top), root:shadow unix_chkpwd, root:mail /var/mail
    expected = {path: _on_host(user, uid, gid) for path, (uid, gid, _) in sample.items()}
    assert {path: _host_owner(rootfs / path) for path in sample} == expected
    # An inner uid and gid > 0 whatever the root holds: nobody's, given inside.
    probe = "/root/.armroot-owner-probe"
    script = (
        "id -u; uname -m; ls -l /dev/null; "
        f"touch {probe} && chown nobody:nogroup {probe} && stat -c '%u %g' {probe}; "
        'stat -c "%u %g" "$@"'
    )
    paths = ["/" + path for path in sample]
    try:
        inside = _ok(
            as_user(user, user_armroot, "run", hf, "--", "sh", "-c", script, "sh", *paths)
        ).splitlines()
        probed = _host_owner(rootfs / probe.lstrip("/"))
    finally:
        (rootfs / probe.lstrip("/")).unlink(missing_ok=True)
    assert inside[:2] == ["0", "armv7l"]
    assert inside[2].startswith("crw-rw-rw-")  # the host's node, bound
    nobody, nogroup = map(int, inside[3].split())
    assert nobody > 0 and nogroup > 0
    assert probed == _on_host(user, nobody, nogroup)
    assert inside[4:] == [f"{uid} {gid}" for uid, gid, _ in sample.values()]


def test_shell_as_the_user(user: User, user_armroot: Path, hf: str) -> None:
    proc = subprocess.run(
        _user_argv(user, user_armroot, "shell", hf),
        cwd=user.home,
        input="echo from-shell $(id -u); uname -m; exit 3\n",
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.split() == ["from-shell", "0", "armv7l"]


@pytest.mark.network
def test_install_and_build_as_the_user(
    user: User, user_armroot: Path, hf: str, scratch: Path
) -> None:
    _ok(as_user(user, user_armroot, "install", hf, "hello"))
    assert "Hello, world!" in _ok(as_user(user, user_armroot, "run", hf, "--", "hello"))
    src = user.home / "project"
    src.mkdir()
    (src / "main.cpp").write_text(
        '#include <iostream>\nint main() { std::cout << "built rootless\\n"; }\n'
    )
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(p CXX)\nadd_executable(p main.cpp)\n"
    )
    (src / "armroot.toml").write_text('[build]\nartifacts = ["p"]\nsmoke = ["/build/p"]\n')
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(src)], check=True)
    out = _ok(as_user(user, user_armroot, "build", hf, "--src", str(src)))
    assert "built rootless" in out
    artifact = src / "armroot-out" / "p"
    assert artifact.stat().st_uid == user.uid
    assert artifact.read_bytes()[18] == 0x28  # e_machine EM_ARM


def test_sigkill_mid_run_leaves_no_mount_process_or_subordinate_file(
    user: User, user_armroot: Path, hf: str
) -> None:
    assert user.sub is not None
    mark = user.home / "mark"
    mark.mkdir()
    os.chown(mark, user.uid, user.gid)
    before = HostState.now()
    script = "sleep 300 & setsid sleep 300 & touch /tmp/scratch; echo up > /mark/ready; wait"
    proc = subprocess.Popen(
        _user_argv(
            user, user_armroot, "run", hf, "--bind", f"{mark}:/mark", "--", "sh", "-c", script
        ),
        cwd=user.home,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: (mark / "ready").exists(), timeout=120), proc.stderr
        inside = children_of(proc.pid)
        armroot_pid = inside[0]  # runuser's child: env exec'd armroot
        assert namespace_of(armroot_pid, "user") != namespace_of(os.getpid(), "user")
        deepest = inside[-1]
        pid_ns, mnt_ns = namespace_of(deepest, "pid"), namespace_of(deepest, "mnt")
        assert pid_ns and mnt_ns
        os.kill(armroot_pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert_session_gone(inside, pid_ns, mnt_ns)
    assert HostState.now() == before
    assert (mark / "ready").stat().st_uid == user.uid
    stray = [
        p
        for top in (user.home, Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))
        for p in _owned_by_subids(top, user.sub, skip=user.store)
    ]
    assert stray == []


def test_a_sigkilled_create_is_cleaned_up_by_the_next_create(
    user: User, user_armroot: Path, armhf_tarball: Path, tiny_armhf_tarball: Path, scratch: Path
) -> None:
    tiny = scratch / tiny_armhf_tarball.name
    shutil.copy2(tiny_armhf_tarball, tiny)
    tiny.chmod(0o644)
    proc = subprocess.Popen(
        _user_argv(user, user_armroot, "create", "gone", "--from", str(armhf_tarball)),
        cwd=user.home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = user.store / "staging"
    assert wait_for(lambda: staging.is_dir() and any(staging.iterdir()), timeout=120)
    armroot_pid = children_of(proc.pid)[0]
    os.kill(armroot_pid, signal.SIGKILL)
    proc.wait()
    listed = as_user(user, user_armroot, "list")
    assert listed.returncode == 0 and "warning" not in listed.stderr, listed.stderr
    _ok(as_user(user, user_armroot, "create", "small", "--from", str(tiny)))
    assert list(staging.iterdir()) == []
    assert not (user.store / "envs/gone").exists()
    _ok(as_user(user, user_armroot, "rm", "small"))


def test_a_disk_image_is_read_in_the_users_namespace(
    user: User, user_armroot: Path, armhf_tarball: Path, scratch: Path
) -> None:
    """fuse2fs needs /dev/fuse, which this kind of machine keeps at 0600 (distributions
    ship 0666). The user's armroot runs in a private mount namespace where a 0666 node is
    bound over /dev/fuse: the host's own /dev/fuse is never changed."""
    images: ImageFixtures = build(armhf_tarball, cache_dir())
    image = scratch / images.image_xz.name
    shutil.copy2(images.image_xz, image)
    image.chmod(0o644)
    refused = as_user(user, user_armroot, "create", "img", "--from", str(image), "--no-verify")
    if os.stat("/dev/fuse").st_mode & 0o006 != 0o006:
        assert error_lines(refused.stderr) == [
            "armroot: error: /dev/fuse cannot be opened (Permission denied): armroot reads "
            "disk images with fuse2fs: make it usable: `sudo chmod 0666 /dev/fuse` (the udev "
            "default on Debian, Fedora and Arch), or create this env with sudo"
        ]
        assert not (user.store / "envs/img").exists()
    fuse = scratch / "fuse"
    fuse.mkdir()
    wrap = (*FUSE_WRAP, str(fuse))
    before = HostState.now()
    made = as_user(
        user, user_armroot, "create", "img", "--from", str(image), "--no-verify", wrap=wrap
    )
    assert "device nodes: rootless" in _ok(made) + made.stderr
    assert HostState.now() == before
    assert sorted(os.listdir(fuse)) == []  # the tmpfs went with the namespace
    rootfs = user.store / "envs/img/rootfs"
    assert rootfs.stat().st_uid == user.uid
    assert (rootfs / "boot/firmware/config.txt").is_file()  # the FAT partition, copied
    # Owners and set-id bits as the root the image was made from has them (root:shadow 2755
    # unix_chkpwd, say), mapped onto the user's ids.
    from tests.integration.images_fixtures import PRUNE

    special, plain = _owners_of(armhf_tarball, prune=PRUNE)
    for path, (uid, gid, _) in {**plain, **special}.items():
        assert _host_owner(rootfs / path) == _on_host(user, uid, gid), path
    for path, (_, _, mode) in special.items():
        assert (rootfs / path).lstat().st_mode & 0o7777 == mode, path
    assert _ok(as_user(user, user_armroot, "run", "img", "--", "uname", "-m")).strip() == "armv7l"
    _ok(as_user(user, user_armroot, "rm", "img"))


@pytest.mark.vm
def test_vm_as_the_user(
    user: User, user_armroot: Path, arm64_tarball: Path, scratch: Path, tmp_path: Path
) -> None:
    """mke2fs reads the root inside the user's namespace, so the VM sees the root's own
    owners; --persist brings the VM's files back owned by the user's ids."""
    tarball = cached_vm_tarball("arm64", arm64_tarball, tmp_path)
    _ok(as_user(user, user_armroot, "create", "vmu", "--from", str(tarball)))
    # What the VM must see: the owners and modes the root's tarball gives.
    special, plain = _owners_of(tarball)
    sample = {**plain, **special}
    script = 'id -u; stat -c "%u %g %a" "$@"; echo hi >/root/from-vm'
    argv = ("--", "sh", "-c", script, "sh", *("/" + path for path in sample))
    booted = as_user(user, user_armroot, "vm", "vmu", *argv)
    seen = _ok(booted).splitlines()
    assert seen[0] == "0", booted.stderr
    for line, (path, (uid, gid, mode)) in zip(seen[1:], sample.items(), strict=True):
        fields = line.split()
        assert fields[:2] == [str(uid), str(gid)], (path, line)
        assert path not in special or fields[2] == f"{mode:o}", (path, line)
    rootfs = user.store / "envs/vmu/rootfs"
    assert not (rootfs / "root/from-vm").exists()
    fuse = scratch / "vm-fuse"
    fuse.mkdir()
    before = HostState.now()
    kept = as_user(
        user, user_armroot, "vm", "vmu", "--persist", *argv, wrap=(*FUSE_WRAP, str(fuse))
    )
    _ok(kept)
    assert HostState.now() == before
    assert (rootfs / "root/from-vm").read_text() == "hi\n"
    assert (rootfs / "root/from-vm").stat().st_uid == user.uid  # root inside
    for path, (uid, gid, _) in sample.items():
        assert _host_owner(rootfs / path) == _on_host(user, uid, gid), path
    _ok(as_user(user, user_armroot, "rm", "vmu"))


@pytest.mark.network
@pytest.mark.slow
def test_debian_with_mmdebstrap_unshare_mode(user: User, user_armroot: Path) -> None:
    """A rootless bootstrap gives the root's owners; kept in the user's cache, the next
    create of the same key restores it with the same owners (ids of the user's range)."""
    spec = ("--from", "debian:trixie", "--arch", "arm64", "--minimal")
    made = as_user(user, user_armroot, "create", "deb", *spec)
    assert "Bootstrapping Debian trixie arm64" in _ok(made) + made.stderr
    assert "Keeping the bootstrap in the cache" in made.stdout + made.stderr
    rootfs = user.store / "envs/deb/rootfs"
    assert rootfs.stat().st_uid == user.uid
    owners = _bootstrapped_owners(user, user_armroot, "deb")
    restored = as_user(user, user_armroot, "create", "deb2", *spec)
    assert "from the cached bootstrap" in _ok(restored) + restored.stderr
    assert "Bootstrapping" not in restored.stdout + restored.stderr
    assert _bootstrapped_owners(user, user_armroot, "deb2") == owners
    for name in ("deb", "deb2"):
        _ok(as_user(user, user_armroot, "rm", name))
        assert not (user.store / "envs" / name).exists()


def test_a_rootless_bootstrap_installs_the_rest_with_twins(user: User, user_armroot: Path) -> None:
    """With packages after the essential ones, mmdebstrap runs in root mode in a user
    namespace of armroot's own inside the user's (its binfmt_misc the hooks' own): apt
    installs them with twins, and the root's owners are the user's range as before."""
    spec = ("--from", "debian:trixie", "--arch", "arm64", "--minimal", "--include", "hello")
    made = as_user(user, user_armroot, "create", "twinned", *spec)
    said = _ok(made) + made.stderr
    assert "twins from here on: " in said and "twins put away" in said, said
    _bootstrapped_owners(user, user_armroot, "twinned")
    out = _ok(as_user(user, user_armroot, "run", "twinned", "--", "hello"))
    assert out == "Hello, world!\n"
    _ok(as_user(user, user_armroot, "rm", "twinned"))


def _bootstrapped_owners(user: User, user_armroot: Path, name: str) -> dict[str, tuple[int, int]]:
    """The owners the bootstrap gave, as the root sees them: the top, and each file or
    directory not root:root (root:shadow unix_chkpwd, say), each checked against its host
    owner; mount points left out (the session's, and files bound from the host)."""
    rootfs = user.store / "envs" / name / "rootfs"
    script = (
        "uname -m; echo ---; cut -d' ' -f5 /proc/self/mountinfo; echo ---; "
        "stat -c '%u %g %n' /; "
        "find / -xdev \\( -type f -o -type d \\) \\( ! -uid 0 -o ! -gid 0 \\) -printf '%U %G %p\\n'"
    )
    out = _ok(as_user(user, user_armroot, "run", name, "--", "sh", "-c", script))
    machine, mounts, listed = out.split("---\n")
    assert machine == "aarch64\n"
    mounted = set(mounts.split()) - {"/"}
    owners: dict[str, tuple[int, int]] = {}
    for line in listed.splitlines():
        inner_uid, inner_gid, path = line.split(" ", 2)
        if not any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounted):
            owners[path] = (int(inner_uid), int(inner_gid))
    assert "/" in owners and any(o != (0, 0) for o in owners.values()), listed
    for path, (uid, gid) in owners.items():
        assert _host_owner(rootfs / path.lstrip("/")) == _on_host(user, uid, gid), path
    return owners


@pytest.mark.slow
def test_pacman_7_with_its_download_user_as_the_user(
    user: User, user_armroot: Path, arm64_tarball: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """pacman 7.0 switches to DownloadUser (alpm) for its downloads: rootless, that works
    because alpm's uid is one of the user's subordinate ids, mapped in the namespace."""
    tarball = arch_like_tarball(arm64_tarball, tmp_path_factory.mktemp("arch-like"))
    before = HostState.now()
    _ok(as_user(user, user_armroot, "create", "alarm", "--from", str(tarball)))
    rootfs = user.store / "envs/alarm/rootfs"
    with serve(rootfs / REPO_INSIDE.lstrip("/")) as server:
        _ok(as_user(user, user_armroot, "run", "alarm", "--", "sh", "-c", MIRRORLIST, server.url))
        installed = as_user(user, user_armroot, "install", "alarm", "armroot-probe")
        assert "installed with pacman: armroot-probe" in _ok(installed) + installed.stderr
        typed = as_user(
            user, user_armroot, "run", "alarm", "--", "pacman", "-Syu", "--noconfirm",
            "armroot-probe2",
        )  # fmt: skip
        assert "landlock" not in _ok(typed) + typed.stderr
    check = _ok(as_user(user, user_armroot, "run", "alarm", "--", "sh", "-c", CHECK))
    assert check.split() == EXPECTED
    _ok(as_user(user, user_armroot, "rm", "alarm"))
    assert HostState.now() == before


def test_rm_deletes_subordinate_files_from_inside(user: User, user_armroot: Path, hf: str) -> None:
    assert user.sub is not None
    _ok(as_user(user, user_armroot, "rm", hf))
    assert not (user.store / "envs" / hf).exists()
    assert _owned_by_subids(user.home, user.sub) == []
    listing = as_user(user, user_armroot, "list")
    assert "no environments yet" in _ok(listing) + listing.stderr
