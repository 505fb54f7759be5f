"""The cases of ../shared/guide/faults.md not already covered beside their feature (see
docs/reliability.md for the whole table), and the load tests.

Every test here (as every integration test: conftest.host_is_untouched) ends with no new
mount or loop device, no process left behind, and the host's resolv.conf, hosts, fstab, CA
bundle, /dev listing and binfmt handlers byte-identical. A case that needs the host
changed (a full disk, binfmt_misc unmounted, a handler disabled, shared propagation) is
staged in a private mount namespace made with `unshare --mount` for that one command, so
the host itself never sees the change.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import armroot, error_lines, wait_for
from tests.integration.conftest import ArmEnv, make_env

pytestmark = [pytest.mark.root, pytest.mark.qemu]

ARMROOT = f"{shlex.quote(sys.executable)} -m armroot"


def in_private_namespace(script: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root in a mount namespace of its own (nothing reaches the
    host's); every mount it makes goes with it."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def _one_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = error_lines(proc.stderr)
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --- 9: disk full ---------------------------------------------------------------------------


def test_disk_full_during_extract_removes_staging_and_keeps_other_envs(
    tiny_armhf_tarball: Path, armhf_tarball: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    store = shlex.quote(str(disk / "store"))
    script = f"""
        mount -t tmpfs -o size=48m tmpfs {shlex.quote(str(disk))}
        export ARMROOT_HOME={store}
        {ARMROOT} create small --from {shlex.quote(str(tiny_armhf_tarball))} >/dev/null || exit 90
        {ARMROOT} create big --from {shlex.quote(str(armhf_tarball))}
        echo "big: $?"
        echo "staging: $(ls -A {store}/staging | wc -l)"
        echo "envs: $(ls {store}/envs)"
        {ARMROOT} run small --no-accel -- sh -c 'echo small still runs'
    """
    proc = in_private_namespace(script)
    assert "big: " in proc.stdout, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] != "big: 0"
    assert lines[1:] == ["staging: 0", "envs: small", "small still runs"], proc.stdout
    [error] = error_lines(proc.stderr)
    assert "No space left on device" in error and "free disk space" in error


# --- 11: odd paths --------------------------------------------------------------------------


def test_store_and_bind_paths_with_spaces_quotes_newlines_and_non_utf8(
    tiny_armhf_tarball: Path, tmp_path: Path
) -> None:
    odd = os.fsdecode(b'it\'s a "store" with\nnewline and \xff byte')
    home = tmp_path / odd
    home.mkdir()
    made = armroot("create", "odd", "--from", str(tiny_armhf_tarball), home=home)
    assert made.returncode == 0, made.stderr
    shared = tmp_path / os.fsdecode(b"bind me 'here'\n\xfe")
    shared.mkdir()
    (shared / "note").write_text("seen through an odd bind\n")
    proc = armroot(
        "run",
        "odd",
        "--no-accel",
        "--bind",
        f"{shared}:/mnt/odd",
        "--",
        "cat",
        "/mnt/odd/note",
        home=home,
    )
    assert proc.returncode == 0, proc.stderr  # faults.md allows a clear refusal; it works
    assert proc.stdout == "seen through an odd bind\n"
    assert armroot("rm", "odd", home=home).returncode == 0
    assert os.listdir(home / "envs") == []


# --- 12: names that prefix each other -------------------------------------------------------


def test_env_names_that_prefix_each_other_are_matched_whole(
    tiny_armhf_tarball: Path, home: Path
) -> None:
    for name in ("pi", "pi2"):
        assert armroot("create", name, "--from", str(tiny_armhf_tarball), home=home).returncode == 0
    target = home / "envs/pi2/rootfs/mnt"
    target.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(target)], check=True)
    try:
        refused = armroot("rm", "pi2", home=home)
        _one_error(refused, "mounted")
        assert armroot("rm", "pi", home=home).returncode == 0  # pi2's mount is not pi's
        assert not (home / "envs/pi").exists() and (home / "envs/pi2/rootfs/mnt").is_dir()
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert armroot("rm", "pi2", home=home).returncode == 0


# --- 15/16: an attached image; no loop device needed ----------------------------------------


def test_an_image_attached_to_a_loop_device_is_read_without_change(
    armhf_tarball: Path, tmp_path: Path, home: Path
) -> None:
    from tests.integration.conftest import cache_dir
    from tests.integration.images_fixtures import build

    images = build(armhf_tarball, cache_dir())
    image = tmp_path / "attached.img"
    subprocess.run(f"xz -dc {shlex.quote(str(images.image_xz))} > {image}", shell=True, check=True)
    before = subprocess.run(["sha256sum", str(image)], capture_output=True, text=True).stdout
    loop = subprocess.run(
        ["losetup", "--find", "--show", "--read-only", str(image)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        made = armroot("create", "att", "--from", str(image), home=home)
        assert made.returncode == 0, made.stderr
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)
    assert (
        subprocess.run(["sha256sum", str(image)], capture_output=True, text=True).stdout == before
    )
    assert armroot("rm", "att", home=home).returncode == 0


# --- 18, 19, 21, 22: host set-up faults, staged in a private namespace ------------------------


BINFMT = "/proc/sys/fs/binfmt_misc"
AARCH64_MAGIC = (
    "magic 7f454c460201010000000000000000000200b700\n"
    "mask ffffffffffffff00fffffffffffffffffeffffff\n"
)


def _with_fake_binfmt(handler: str | None, command: str) -> str:
    """A script that puts a tmpfs with a fake binfmt_misc view over the real one (in this
    namespace only), then runs ``command``."""
    lines = [f"mount -t tmpfs -o size=64k tmpfs {BINFMT}", f": > {BINFMT}/register"]
    lines.append(f"echo enabled > {BINFMT}/status")
    if handler is not None:
        lines.append(f"printf %s {shlex.quote(handler)} > {BINFMT}/qemu-aarch64")
    lines.append(command)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def faults_arm64(arm64_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> ArmEnv:
    return make_env(arm64_tarball, "arm64", tmp_path_factory.mktemp("faults-store"), "f64")


def _run_cmd(env: ArmEnv) -> str:
    return f"ARMROOT_HOME={shlex.quote(str(env.home))} {ARMROOT} run {env.name} --no-accel -- true"


def test_binfmt_misc_not_mounted_names_doctor_fix(faults_arm64: ArmEnv) -> None:
    proc = in_private_namespace(f"umount {BINFMT} && {_run_cmd(faults_arm64)}")
    _one_error(proc, "binfmt_misc is not mounted", "armroot doctor --fix")


def test_missing_or_disabled_handler_names_package_and_fix(faults_arm64: ArmEnv) -> None:
    missing = in_private_namespace(_with_fake_binfmt(None, _run_cmd(faults_arm64)))
    _one_error(missing, "no binfmt_misc handler for arm64", "qemu-user-static", "doctor --fix")
    handler = "disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: POF\noffset 0\n"
    disabled = in_private_namespace(
        _with_fake_binfmt(handler + AARCH64_MAGIC, _run_cmd(faults_arm64))
    )
    _one_error(disabled, "qemu-aarch64 for arm64 is disabled", "doctor --fix")


def test_a_dynamic_interpreter_is_explained(faults_arm64: ArmEnv) -> None:
    handler = f"enabled\ninterpreter {os.path.realpath(sys.executable)}\nflags: \noffset 0\n"
    proc = in_private_namespace(_with_fake_binfmt(handler + AARCH64_MAGIC, _run_cmd(faults_arm64)))
    _one_error(proc, "dynamically linked QEMU that cannot load inside the root", "static")


def test_an_old_qemu_is_warned_with_its_version(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("qemu-arm-static", "qemu-aarch64-static"):
        script = fake / name
        script.write_text("#!/bin/sh\necho 'qemu-aarch64 version 5.2.0 (Debian 1:5.2+dfsg-11)'\n")
        script.chmod(0o755)
    proc = armroot(
        "doctor",
        home=tmp_path,
        env={"PATH": f"{fake}:{os.environ['PATH']}"},
    )
    assert "version 5.2.0 is old" in proc.stdout, proc.stdout


# --- 23: 32-bit readdir on a 64-bit ext4 host (LP#1805913) ---------------------------------


def test_a_32_bit_root_lists_a_large_directory_completely(
    shared_envs: dict[str, ArmEnv],
) -> None:
    """qemu-user once passed ext4's 64-bit directory hashes to 32-bit programs, whose
    readdir then failed with EOVERFLOW (CA stores came out empty). The self-test: a 32-bit
    program lists a directory of hundreds of files on the host's own filesystem."""
    env = shared_envs["armhf"]
    certs = env.home / "envs" / env.name / "rootfs/usr/share/ca-certificates/mozilla"
    expected = len(os.listdir(certs))
    assert expected > 100
    proc = env.run("--no-accel", "--", "sh", "-c", "ls /usr/share/ca-certificates/mozilla | wc -l")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == expected
    # doctor --env runs the same self-test on /usr/bin for a 32-bit root (and would warn)
    doctor = armroot("doctor", "--env", env.name, home=env.home)
    usr_bin = len(os.listdir(env.home / "envs" / env.name / "rootfs/usr/bin"))
    assert f"[ok  ] 32-bit readdir in '{env.name}': /usr/bin: all {usr_bin} entries" in (
        doctor.stdout
    ), doctor.stdout


# --- 29: store on a nodev filesystem ---------------------------------------------------------


def test_a_store_on_a_nodev_filesystem_works(tiny_armhf_tarball: Path, tmp_path: Path) -> None:
    """Sessions bind the host's device nodes, so the store needs none of its own."""
    disk = shlex.quote(str(tmp_path / "nodev"))
    script = f"""
        mkdir {disk} && mount -t tmpfs -o size=32m,nodev tmpfs {disk}
        export ARMROOT_HOME={disk}/store
        {ARMROOT} create n --from {shlex.quote(str(tiny_armhf_tarball))} >/dev/null &&
        {ARMROOT} run n --no-accel -- sh -c 'echo hi > /dev/null && echo works'
    """
    proc = in_private_namespace(script)
    assert proc.returncode == 0 and proc.stdout == "works\n", proc.stderr


# --- 31: shared propagation on the host ------------------------------------------------------


def test_with_shared_propagation_nothing_a_session_mounts_reaches_a_peer(
    faults_arm64: ArmEnv, tmp_path: Path
) -> None:
    """This host's / is private; the case is staged: a namespace whose / is made rshared
    holds a peer (a second namespace in the same peer groups), then a session runs there.
    Had the session not made its / a slave, its /proc and /dev mounts would show up in the
    peer's mountinfo."""
    peer_info = tmp_path / "peer-mountinfo"
    mark = tmp_path / "mark"
    mark.mkdir()
    up = shlex.quote(str(mark / "up"))
    rootfs = faults_arm64.home / "envs" / faults_arm64.name / "rootfs"
    # The peer is read once the session's command runs (its mounts all made), however long
    # starting it takes on a busy machine: read before, it would show nothing either way.
    script = f"""
        mount --make-rshared /
        unshare --mount --propagation unchanged sleep 600 &
        peer=$!
        sleep 1
        ARMROOT_HOME={shlex.quote(str(faults_arm64.home))} {ARMROOT} run {faults_arm64.name} \\
            --no-accel --bind {shlex.quote(str(mark))}:/mark -- sh -c 'touch /mark/up; sleep 5' &
        session=$!
        while [ ! -e {up} ] && kill -0 $session 2>/dev/null; do sleep 0.1; done
        cat /proc/$peer/mountinfo > {shlex.quote(str(peer_info))}
        wait $session; status=$?
        kill $peer; wait $peer
        exit $status
    """
    proc = in_private_namespace(script)
    assert proc.returncode == 0, proc.stderr
    assert (mark / "up").exists()
    seen = peer_info.read_text()
    assert seen and str(rootfs) not in seen


# --- 33, 34: odd shapes inside the root ------------------------------------------------------


def test_dev_linked_to_the_hosts_dev_is_refused_or_kept_inside(
    arm64_tarball: Path, home: Path
) -> None:
    env = make_env(arm64_tarball, "arm64", home, "devlink")
    rootfs = home / "envs/devlink/rootfs"
    subprocess.run(["rm", "-rf", "--one-file-system", str(rootfs / "dev")], check=True)
    (rootfs / "dev").symlink_to("/dev")
    proc = env.run("--no-accel", "--", "sh", "-c", "ls /dev/null")
    # The link resolves to itself inside the root (never to the host's /dev): refused.
    _one_error(proc, "/dev", "the env's own root", "create the env again")
    assert os.readlink(rootfs / "dev") == "/dev"  # left as it was; host /dev is guarded
    assert armroot("rm", "devlink", home=home).returncode == 0


def test_a_file_where_a_mount_point_directory_belongs(arm64_tarball: Path, home: Path) -> None:
    env = make_env(arm64_tarball, "arm64", home, "tmpfile")
    rootfs = home / "envs/tmpfile/rootfs"
    os.rmdir(rootfs / "tmp")
    (rootfs / "tmp").write_text("a file, not a directory\n")
    proc = env.run("--no-accel", "--", "sh", "-c", "touch /tmp/x && echo ok")
    # armroot never replaces a file of the env to fit a mount point: refused.
    _one_error(proc, "/tmp is a file where a directory", "create the env again")
    assert (rootfs / "tmp").read_text() == "a file, not a directory\n"
    assert armroot("rm", "tmpfile", home=home).returncode == 0


# --- 36: root without CAP_SYS_ADMIN ----------------------------------------------------------


def test_root_without_cap_sys_admin_is_told_why(faults_arm64: ArmEnv) -> None:
    proc = subprocess.run(
        [
            "setpriv",
            "--bounding-set",
            "-sys_admin",
            "--inh-caps",
            "-sys_admin",
            sys.executable,
            "-m",
            "armroot",
            "run",
            faults_arm64.name,
            "--",
            "true",
        ],
        env=dict(os.environ, ARMROOT_HOME=str(faults_arm64.home)),
        text=True,
        capture_output=True,
        timeout=120,
    )
    _one_error(proc, "without CAP_SYS_ADMIN", "--cap-add SYS_ADMIN", "rootless")


# --- 37: HTTPS inside: DNS, TLS and CA failures told apart ---------------------------------


@pytest.mark.network
def test_doctor_tells_dns_tls_and_ca_failures_apart(faults_arm64: ArmEnv, tmp_path: Path) -> None:
    import http.server
    import threading

    env = faults_arm64
    installed = armroot("install", env.name, "curl", home=env.home, timeout=1200)
    assert installed.returncode == 0, installed.stderr
    doctor = ("doctor", "--env", env.name)
    real = armroot(*doctor, home=env.home)
    if "with the root's own CA store" not in real.stdout:
        # This machine's https goes through a TLS-intercepting proxy (as company networks
        # do): the root's CA store refuses it, the host's bundle trusts it.
        assert "does not trust the server's certificate (curl 60), the host's bundle does" in (
            real.stdout
        ), real.stdout
        assert f"armroot run {env.name} --host-ca" in real.stdout
    bad_resolv = tmp_path / "resolv.conf"
    bad_resolv.write_text("nameserver 127.0.0.9\n")  # nothing answers there
    dns = in_private_namespace(
        f"mount --bind {shlex.quote(str(bad_resolv))} /etc/resolv.conf && "
        f"ARMROOT_HOME={shlex.quote(str(env.home))} {ARMROOT} {' '.join(doctor)}"
    )
    assert dns.returncode != 0
    assert "[FAIL] https in 'f64': DNS: the root cannot resolve the host name (curl 6)" in (
        dns.stdout
    )
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/"  # plain HTTP: not TLS
        tls = armroot(*doctor, "--url", url, home=env.home)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert tls.returncode != 0
    assert "[FAIL] https in 'f64': the TLS handshake failed (curl 35)" in tls.stdout


# --- load --------------------------------------------------------------------------------------


def _start_run(env: ArmEnv, *command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "armroot", "run", env.name, "--", *command],
        env=dict(os.environ, ARMROOT_HOME=str(env.home)),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.network
def test_four_runs_while_install_and_rm_race_them(arm64_tarball: Path, home: Path) -> None:
    env = make_env(arm64_tarball, "arm64", home, "busy")
    runs = [_start_run(env, "sh", "-c", f"sleep 4; echo run {i}") for i in range(4)]
    assert wait_for(
        lambda: json.loads(armroot("info", "busy", "--json", home=home).stdout)["in_use"],
        timeout=60,
    )
    install = armroot("install", "busy", "hello", home=home)
    _one_error(install, "in use")  # a package change never runs under live sessions
    refused = armroot("rm", "busy", home=home)
    _one_error(refused, "in use")
    for i, proc in enumerate(runs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out == f"run {i}\n", err
    # The sessions are gone, so is their lock: the same install now goes through.
    assert armroot("install", "busy", "hello", home=home).returncode == 0
    assert env.run("--", "hello").stdout == "Hello, world!\n"
    assert armroot("rm", "busy", home=home).returncode == 0


def _file_handles() -> int:
    return int(Path("/proc/sys/fs/file-nr").read_text().split()[0])


def _process_count() -> int:
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


@pytest.mark.slow
def test_two_hundred_back_to_back_runs_grow_nothing(shared_envs: dict[str, ArmEnv]) -> None:
    env = shared_envs["arm64"]
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    warm = env.run("--", "true")
    assert warm.returncode == 0, warm.stderr
    handles, processes = _file_handles(), _process_count()
    started = time.monotonic()
    for i in range(200):
        proc = env.run("--", "true")
        assert proc.returncode == 0, f"run {i}: {proc.stderr}"
    elapsed = time.monotonic() - started
    with open("/proc/self/mountinfo") as f:
        assert f.read() == mounts
    # System-wide counts move with whatever else the machine does; a leak of one handle or
    # process per run would add 200.
    assert _file_handles() - handles < 100, (handles, _file_handles())
    assert _process_count() - processes < 20, (processes, _process_count())
    print(f"200 runs in {elapsed:.1f} s")


@pytest.mark.network
@pytest.mark.slow
def test_eight_concurrent_builds_with_twins_and_the_compiler_cache(
    arm64_tarball: Path, home: Path, tmp_path: Path
) -> None:
    from tests.integration.test_build import HELLO_C, _tree_digest

    env = make_env(arm64_tarball, "arm64", home, "eight")
    rootfs = home / "envs" / env.name / "rootfs"
    projects = []
    for i in range(10):
        src = tmp_path / f"p{i}"
        src.mkdir()
        (src / "hello.c").write_text(HELLO_C)
        (src / "Makefile").write_text(
            "hello: hello.o\n\t$(CC) -o $@ $^\nhello.o: hello.c\n\t$(CC) -O2 -c -o $@ $<\n"
        )
        (src / "armroot.toml").write_text('[build]\nsystem = "make"\nartifacts = ["src:hello"]\n')
        projects.append(src)
    # One build first, without the compiler cache: the twin set is made, and the reference.
    first = armroot(
        "build", env.name, "--src", str(projects[0]), "--accel", "twins", "--no-cache", home=home
    )
    assert first.returncode == 0, first.stderr[-3000:]
    reference = (projects[0] / "armroot-out/hello").read_bytes()
    before = _tree_digest(rootfs)
    argv = [sys.executable, "-m", "armroot", "-v", "build", env.name, "--accel", "twins"]
    builds = [
        subprocess.Popen(
            [*argv, "--src", str(src)],
            env=dict(os.environ, ARMROOT_HOME=str(home)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for src in projects[1:9]
    ]
    outputs = [b.communicate(timeout=900) for b in builds]
    assert [b.returncode for b in builds] == [0] * 8, [err[-2000:] for _, err in outputs]
    counts = []
    for out, err in outputs:
        found = re.search(r"compiler cache: (\d+) hits?, (\d+) miss(?:es)?", out + err)
        assert found, err[-2000:]
        counts.append((int(found[1]), int(found[2])))
    # Each build made one cacheable compile, all the same: whichever missed (all eight may,
    # when they compile at once), they share one cache, and the next build hits it.
    assert all(hits + misses == 1 for hits, misses in counts), counts
    caches = [p.name for p in (home / "cache" / "ccache").iterdir()]
    assert len(caches) == 1 and caches[0].startswith("twins-"), caches
    after = armroot(*argv[3:], "--src", str(projects[-1]), home=home)
    assert after.returncode == 0, after.stderr[-3000:]
    found = re.search(r"compiler cache: (\d+) hits?, (\d+) miss", after.stdout + after.stderr)
    assert found and (found[1], found[2]) == ("1", "0"), after.stderr[-2000:]
    for src in projects[1:]:
        assert (src / "armroot-out/hello").read_bytes() == reference, src
    assert _tree_digest(rootfs) == before  # the env's files are untouched
    assert json.loads(armroot("info", env.name, "--json", home=home).stdout)["in_use"] is False
    assert armroot("rm", env.name, home=home).returncode == 0
