"""Cached Debian bootstraps (armroot.images.bootstraps): the real mmdebstrap makes a root
once, the next create of the same key restores it; damaged, raced, offline, disk-full cases;
and `armroot export` -> `create` keeping an env's metadata. Real mmdebstrap (counted by a
PATH entry that logs each start, then runs it), the real archive, real libarchive."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import armroot, error_lines, wait_for
from tests.integration.root_trees import packages, tree

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network, pytest.mark.slow]

# A small root of the default variant: essential packages and apt, then (apt installing
# them, as the default env's build tools are, and through the twins of the essential
# packages' programs) hello and ca-certificates (whose postinst runs sh, sed, ln, openssl).
SPEC = (
    "--from", "debian:trixie", "--arch", "arm64", "--minimal",
    "--include", "hello,ca-certificates",
)  # fmt: skip
MIRROR = "http://deb.debian.org/debian"


class Store:
    """A store and a cache of this module's own, with mmdebstrap's starts counted."""

    def __init__(self, base: Path) -> None:
        self.home = base / "store"
        self.cache = base / "cache"
        self.bin = base / "bin"
        self.starts = base / "mmdebstrap-starts"
        self.bin.mkdir()
        wrapper = self.bin / "mmdebstrap"
        wrapper.write_text(
            f'#!/bin/sh\necho "$$" >> {self.starts}\nexec /usr/bin/mmdebstrap "$@"\n'
        )
        wrapper.chmod(0o755)

    def env(self) -> dict[str, str]:
        # The user's default (the suite's is clang): bootstraps with twins after the
        # essential packages (armroot.images.bootstrap_twins).
        path = f"{self.bin}:{os.environ['PATH']}"
        return {"ARMROOT_CACHE": str(self.cache), "PATH": path, "ARMROOT_ACCEL": "auto"}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "armroot", *args]

    def run(self, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
        return armroot(*args, home=home or self.home, env=self.env(), timeout=2400)

    def bootstraps(self) -> int:
        return len(self.starts.read_text().split()) if self.starts.exists() else 0

    def cached(self) -> list[dict[str, object]]:
        listed = json.loads(_ok(self.run("cache", "list", "--json")))
        return list(listed["bootstraps"])

    def rootfs(self, name: str) -> Path:
        return self.home / "envs" / name / "rootfs"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    made = Store(tmp_path_factory.mktemp("bootstraps"))
    yield made
    for name in made.home.joinpath("envs").glob("*"):
        made.run("rm", name.name)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def test_the_second_create_restores_the_first_bootstrap(store: Store, tmp_path: Path) -> None:
    """The first create bootstraps and keeps the root; the second restores it: the same
    root. And armroot's bootstrap, which clears apt's Pre-Install-Pkgs (debconf's
    preconfiguration, all emulated) while apt installs and runs the root's programs through
    their twins from the essential hook on (mmdebstrap in a user namespace of its own,
    /dev's nodes made after), is the root plain mmdebstrap makes (made beside it): every
    path, owner, mode and content, dpkg's status and debconf's database; only debconf's own
    backups, *.dat-old, written in another order, differ."""
    plain = tmp_path / "plain"
    reference = subprocess.Popen(
        [
            "unshare", "--mount", "--propagation=private",
            "mmdebstrap", "--variant=apt", "--architectures=arm64", "--format=directory",
            "--include=hello,ca-certificates", "trixie", str(plain), MIRROR,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        made = _ok(store.run("create", "fresh", *SPEC, "--verbose"))
        assert "Bootstrapping Debian trixie arm64 with mmdebstrap" in made
        # The twins ran: dpkg-deb unpacking every .deb of apt's, the postinst's sh and sed.
        assert "twins from here on: " in made and "twins put away" in made, made
        for program, twin in (("/usr/bin/dpkg-deb", "dpkg-deb"), ("/usr/bin/sed", "sed"),
                              ("/bin/sh", "dash")):  # fmt: skip
            assert re.search(rf"armroot twins: {program}: native twin \S+/bin/{twin}\b", made)
        assert re.search(r"armroot twins: /usr/bin/openssl: emulated", made)  # no twin
        assert re.search(r"packages set up; .*installing essential packages \d+s", made), made
        assert store.bootstraps() == 1
        [entry] = store.cached()
        assert entry["key"] == {
            "suite": "trixie",
            "arch": "arm64",
            "variant": "apt",
            "include": ["ca-certificates", "hello"],
            "mirror": "http://deb.debian.org/debian",
        }
        restored = _ok(store.run("create", "again", *SPEC))
        restoring = "Restoring Debian trixie arm64 (apt + ca-certificates,hello) from the cached"
        assert restoring in restored
        assert "Bootstrapping" not in restored and store.bootstraps() == 1
        # The same root: every path with its owner, mode, xattrs and contents; dpkg agrees.
        ours = tree(store.rootfs("again"))
        assert packages(store.rootfs("again")) == packages(store.rootfs("fresh"))
        assert ours == tree(store.rootfs("fresh"))
        assert reference.wait(timeout=1800) == 0
        theirs = tree(plain)
        backups = {"var/cache/debconf/config.dat-old", "var/cache/debconf/templates.dat-old"}
        assert ours.keys() == theirs.keys()
        assert {p for p in ours if ours[p] != theirs[p]} <= backups
        assert "var/cache/debconf/tmp.ci" in ours and "usr/bin/hello" in ours
        assert "etc/ssl/certs/ca-certificates.crt" in ours and "run/armroot" not in ours
        assert "dev/null" in ours and "dev/ptmx" in ours
        assert packages(store.rootfs("again")) == packages(plain)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
        subprocess.run(["rm", "-rf", "--one-file-system", str(plain)], check=True)
    listed = [_ok(store.run("run", n, "--", "dpkg-query", "-W")) for n in ("fresh", "again")]
    assert listed[0] == listed[1] and "apt\t" in listed[0] and "hello\t" in listed[0]


def test_offline_needs_no_network_and_another_key_is_another_bootstrap(store: Store) -> None:
    if not store.cached():
        pytest.skip("needs the first test's bootstrap")
    # In a network namespace with only a loopback that is down: no archive to ask.
    proc = subprocess.run(
        ["unshare", "--net", *store.argv("create", "cut-off", *SPEC, "--offline")],
        env=dict(os.environ, ARMROOT_HOME=str(store.home), **store.env()),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "from the cached bootstrap" in _ok(proc)
    assert packages(store.rootfs("cut-off")) == packages(store.rootfs("fresh"))
    other = store.run("create", "other", *SPEC[:-2], "--offline")  # without the packages
    assert other.returncode != 0
    assert error_lines(other.stderr) == [
        "armroot: error: no cached bootstrap of Debian trixie arm64 (apt) from "
        "http://deb.debian.org/debian: drop --offline to bootstrap it from the archive"
    ], other.stderr
    assert not (store.home / "envs/other").exists()
    assert list((store.home / "staging").iterdir()) == []
    both = store.run("create", "x", *SPEC, "--offline", "--refresh")
    assert both.returncode != 0
    assert error_lines(both.stderr) == [
        "armroot: error: --refresh and --offline contradict each other: give one of them"
    ], both.stderr
    assert store.bootstraps() == 1


def test_a_full_disk_during_a_restore_leaves_no_env_and_keeps_the_cache(
    store: Store, tmp_path: Path
) -> None:
    if not store.cached():
        pytest.skip("needs the first test's bootstrap")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(small)], check=True)
    try:
        proc = store.run("create", "full", *SPEC, "--offline", home=small / "store")
        assert proc.returncode != 0
        [line] = error_lines(proc.stderr)
        assert "No space left on device" in line, proc.stderr
        assert list((small / "store/staging").iterdir()) == []
        assert not (small / "store/envs/full").exists()
    finally:
        subprocess.run(["umount", str(small)], check=True)
    [entry] = store.cached()
    tarball = Path(str(entry["path"]))
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == entry["sha256"]


def test_a_restore_killed_midway_leaves_no_env_and_the_cache_as_it_was(store: Store) -> None:
    if not store.cached():
        pytest.skip("needs the first test's bootstrap")
    [entry] = store.cached()
    env = dict(os.environ, ARMROOT_HOME=str(store.home), **store.env())
    restore = subprocess.Popen(
        store.argv("create", "restore-killed", *SPEC, "--offline"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = store.home / "staging"

    def extracting() -> bool:  # the root's files arriving in a staging directory
        return any(len(list(d.glob("*/usr/bin/*"))) > 20 for d in staging.glob("restore-killed.*"))

    try:
        assert wait_for(extracting, timeout=300, interval=0.02)
    finally:
        restore.kill()  # SIGKILL, by PID: no unwinding
        restore.wait(60)
    assert not (store.home / "envs/restore-killed").exists()
    assert list(staging.glob("restore-killed.*"))  # what it left, until the next command
    assert store.cached() == [entry]  # the cached tarball and its record as they were
    assert hashlib.sha256(Path(str(entry["path"])).read_bytes()).hexdigest() == entry["sha256"]
    again = store.run("create", "restore-killed", *SPEC, "--offline")
    assert "from the cached bootstrap" in _ok(again)
    assert list(staging.iterdir()) == []  # the next create removed it (its lock was free)
    assert packages(store.rootfs("restore-killed")) == packages(store.rootfs("fresh"))
    _ok(store.run("rm", "restore-killed"))  # (the next test creates "killed")


def test_a_damaged_bootstrap_is_made_again_once_by_two_racing_creates(store: Store) -> None:
    if not store.cached():
        pytest.skip("needs the first test's bootstrap")
    [entry] = store.cached()
    tarball = Path(str(entry["path"]))
    with tarball.open("r+b") as stream:  # one byte altered in the middle
        stream.seek(tarball.stat().st_size // 2)
        byte = stream.read(1)
        stream.seek(-1, os.SEEK_CUR)
        stream.write(bytes([byte[0] ^ 0xFF]))
    env = dict(os.environ, ARMROOT_HOME=str(store.home), **store.env())
    racers = [
        subprocess.Popen(
            store.argv("create", name, *SPEC),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("first", "second")
    ]
    outputs = [p.communicate(timeout=2400)[0] for p in racers]
    assert [p.returncode for p in racers] == [0, 0], outputs
    assert store.bootstraps() == 2  # the first test's, and one now
    made = [o for o in outputs if "Bootstrapping" in o]
    assert len(made) == 1, outputs
    unusable = "the cached bootstrap of Debian trixie arm64 (apt + ca-certificates,hello) is"
    assert unusable + " unusable" in made[0]
    assert "sha256" in made[0]
    [waited] = [o for o in outputs if o is not made[0]]
    assert "from the cached bootstrap" in waited
    [fresh] = store.cached()
    assert fresh["sha256"] != entry["sha256"]
    names = ("first", "second") if outputs[0] is made[0] else ("second", "first")
    assert tree(store.rootfs(names[1])) == tree(store.rootfs(names[0]))
    assert packages(store.rootfs(names[0])) == packages(store.rootfs("fresh"))
    cleaned = _ok(store.run("cache", "clean"))
    assert "cached downloads, bootstraps and compiles" in cleaned
    assert store.cached() == []
    assert not tarball.exists()


def test_an_exported_env_keeps_its_board_gcc_target_and_twins(
    arm64_tarball: Path, home: Path, tmp_path: Path
) -> None:
    _ok(armroot("create", "made", "--from", str(arm64_tarball), "--board", "pi4", home=home))
    _ok(armroot("run", "made", "--accel", "clang", "--", "true", home=home))  # finds the target
    made = json.loads((home / "envs/made/armroot.json").read_text())
    assert made["gcc_target"] and made["board"] == "pi4"
    exported = tmp_path / "made.tar.zst"
    _ok(armroot("export", "made", "--tar", str(exported), home=home))
    assert subprocess.run(["zstd", "-t", "-q", str(exported)], check=False).returncode == 0
    _ok(armroot("rm", "made", home=home))
    created = _ok(armroot("create", "moved", "--from", str(exported), home=home))
    assert "exported from 'made'" in created
    moved = json.loads((home / "envs/moved/armroot.json").read_text())
    for field in ("board", "gcc_target", "source", "cpu_level", "qemu_cpu", "uname_machine"):
        assert moved[field] == made[field], field
    assert not (home / "envs/moved/rootfs/.armroot-env.json").exists()
    info = _ok(armroot("info", "moved", home=home))
    assert "board:" in info and "pi4" in info
    twinned = armroot(
        "run", "-v", "moved", "--", "make", "--version", home=home, env={"ARMROOT_ACCEL": "auto"}
    )
    assert re.search(r"armroot twins: /usr/bin/make: native twin", _ok(twinned))
    # A tarball made elsewhere (no metadata) still makes an env, with no board.
    plain = _ok(armroot("create", "plain", "--from", str(arm64_tarball), home=home))
    assert "exported from" not in plain
    assert json.loads((home / "envs/plain/armroot.json").read_text())["board"] is None
    for name in ("moved", "plain"):
        _ok(armroot("rm", name, home=home))


def test_a_bootstrap_killed_with_its_mounts_up_leaves_none_on_the_host(store: Store) -> None:
    """mmdebstrap (root mode) mounts /proc, /sys and /dev's parts into the new root, and the
    twins' hook a tmpfs and a binfmt_misc of its user namespace's own; SIGKILL to armroot,
    mmdebstrap and all theirs at once while apt installs with twins: the mounts were in a
    namespace of their own, so they are gone with them (host_is_untouched checks
    mountinfo), the host's binfmt_misc handlers are as they were, and the next create clears
    the staging directory."""
    host_handlers = sorted(os.listdir("/proc/sys/fs/binfmt_misc"))
    tmp = store.home.parent / "tmp"  # what the killed mmdebstrap leaves there (its gpghome)
    tmp.mkdir(exist_ok=True)
    racer = subprocess.Popen(
        store.argv("create", "killed", *SPEC, "--no-cache"),
        env=dict(os.environ, ARMROOT_HOME=str(store.home), TMPDIR=str(tmp), **store.env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert racer.stdout is not None
    seen = []
    for line in racer.stdout:
        seen.append(line)
        if "twins from here on" in line:
            break
    staging = next((store.home / "staging").glob("killed.*"))
    assert (staging / "rootfs/proc").is_dir()
    assert [m for m in _mounts() if str(staging) in m] == []  # not in the host's namespace
    os.killpg(racer.pid, signal.SIGKILL)
    racer.wait(timeout=60)
    assert seen and "twins from here on" in seen[-1], seen
    assert not [m for m in _mounts() if str(staging) in m], seen
    assert sorted(os.listdir("/proc/sys/fs/binfmt_misc")) == host_handlers
    _ok(store.run("list"))
    assert not staging.exists()


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]
