"""Creating environments: tarballs (safe extraction), architecture checks, bad input."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.helpers import HostState, armroot, error_lines, wait_for
from tests.integration.conftest import ArmEnv


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _assert_refused(home: Path, proc: subprocess.CompletedProcess[str], words: str) -> None:
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert words in lines[0]
    assert not (home / "envs").exists() or list((home / "envs").iterdir()) == []
    assert not (home / "staging").exists() or list((home / "staging").iterdir()) == []


@pytest.mark.parametrize(
    "case",
    ["absolute", "dotdot", "through-symlink", "hardlink-absolute", "hardlink-dotdot"],
)
def test_malicious_tarballs_are_rejected_and_write_nothing_outside(
    case: str, tmp_path: Path, home: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("host file")
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [_file("etc/hostname", b"pi\n")]
    if case == "absolute":
        members.append(_file(str(outside / "evil")))
    elif case == "dotdot":
        members.append(_file("../../outside/evil"))
    elif case == "through-symlink":
        members += [_link("escape", str(outside), tarfile.SYMTYPE), _file("escape/evil")]
    elif case == "hardlink-absolute":
        members.append(_link("hl", str(victim), tarfile.LNKTYPE))
    else:
        members.append(_link("hl", "../../outside/victim", tarfile.LNKTYPE))
    bad = _tar(tmp_path / "bad.tar", members)
    before = HostState.now()
    proc = armroot("create", "evil", "--from", str(bad), home=home)
    _assert_refused(home, proc, "unsafe archive member")
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert victim.read_text() == "host file" and victim.stat().st_nlink == 1
    assert HostState.now() == before


def test_tarball_that_is_not_a_root_filesystem(tmp_path: Path, home: Path) -> None:
    notes = _tar(tmp_path / "notes.tar.gz", [_file("README", b"just notes")])
    proc = armroot("create", "x", "--from", str(notes), home=home)
    _assert_refused(home, proc, "does not look like a root filesystem")


def test_x86_64_root_is_refused_before_anything_runs(tmp_path: Path, home: Path) -> None:
    host_sh = Path(os.path.realpath("/bin/sh"))
    data = host_sh.read_bytes()
    info, _ = _file("bin/sh", data)
    info.mode = 0o755
    proc = armroot(
        "create", "x86", "--from", str(_tar(tmp_path / "x86.tar", [(info, data)])), home=home
    )
    _assert_refused(home, proc, "x86_64 root, not an ARM one")


def test_corrupt_archive_part_way_leaves_nothing(tmp_path: Path, home: Path) -> None:
    good = _tar(tmp_path / "big.tar", [_file(f"f{i}", os.urandom(64 * 1024)) for i in range(64)])
    xz = tmp_path / "big.tar.xz"
    subprocess.run(["xz", "-k", "-T1", str(good)], check=True)
    data = bytearray(xz.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\0" * 4096
    xz.write_bytes(bytes(data))
    proc = armroot("create", "broken", "--from", str(xz), home=home)
    _assert_refused(home, proc, "damaged")


def test_bad_names_schemes_and_arches(home: Path, tmp_path: Path) -> None:
    cases = [
        (("create", "../up"), "invalid environment name"),
        (("create", "ok", "--from", "ftp://example/x.tar"), "unknown source scheme"),
        (("create", "ok", "--from", "debian:trixie", "--arch", "mips"), "unsupported architecture"),
        (("create", "ok", "--from", str(tmp_path / "none.tar")), "no such file"),
        (("run", "ghost", "--", "true"), "no environment named 'ghost'"),
        (("info", "ghost"), "no environment named 'ghost'"),
        (("rm", "ghost"), "no environment named 'ghost'"),
    ]
    for args, words in cases:
        proc = armroot(*args, home=home)
        assert proc.returncode != 0, args
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and words in lines[0], (args, proc.stderr)


def test_missing_mmdebstrap_names_the_package(home: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    proc = armroot("create", "d", "--from", "debian:trixie", home=home, env={"PATH": str(bin_dir)})
    lines = error_lines(proc.stderr)
    assert proc.returncode == 6 and len(lines) == 1
    assert "mmdebstrap" in lines[0] and "apt-get install mmdebstrap" in lines[0]


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.network
def test_root_tarball_imports_and_runs(armhf_tarball: Path, home: Path) -> None:
    created = armroot("create", "fromtar", "--from", str(armhf_tarball), home=home)
    assert created.returncode == 0, created.stderr
    info = armroot("info", "fromtar", "--json", home=home)
    assert '"arch": "armhf"' in info.stdout and str(armhf_tarball) in info.stdout
    rootfs = home / "envs/fromtar/rootfs"
    # Owners, modes and setuid bits survive (su is setuid root in Debian).
    su = (rootfs / "usr/bin/su").stat()
    assert su.st_mode & 0o4000 and su.st_uid == 0
    assert armroot("run", "fromtar", "--", "true", home=home).returncode == 0
    dup = armroot("create", "fromtar", "--from", str(armhf_tarball), home=home)
    assert dup.returncode == 4 and "already exists" in dup.stderr
    assert armroot("rm", "fromtar", home=home).returncode == 0
    assert armroot("list", "--json", home=home).stdout.strip() == "[]"


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.network
def test_wrong_architecture_is_refused(armhf_tarball: Path, home: Path) -> None:
    proc = armroot("create", "wrong", "--from", str(armhf_tarball), "--arch", "arm64", home=home)
    _assert_refused(home, proc, "is an armhf root, not arm64")


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.network
def test_list_and_info(shared_envs: dict[str, ArmEnv]) -> None:
    env = shared_envs["arm64"]
    listing = armroot("list", home=env.home)
    assert "a64" in listing.stdout and "ahf" in listing.stdout
    info = armroot("info", "a64", home=env.home)
    assert "Debian GNU/Linux" in info.stdout and "arm64" in info.stdout


def _start_create(home: Path, tarball: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, ARMROOT_HOME=str(home))
    return subprocess.Popen(
        [sys.executable, "-m", "armroot", "create", "cut", "--from", str(tarball)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _staging_has_files(home: Path) -> bool:
    staging = home / "staging"
    return staging.is_dir() and any(p.is_dir() for p in staging.iterdir())


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.network
def test_interrupted_create_leaves_nothing(armhf_tarball: Path, home: Path) -> None:
    proc = _start_create(home, armhf_tarball)
    assert wait_for(lambda: _staging_has_files(home), timeout=60)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert list((home / "staging").iterdir()) == []
    assert list((home / "envs").iterdir()) == []


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.network
def test_sigkilled_create_is_cleaned_up_by_the_next_command(
    armhf_tarball: Path, home: Path
) -> None:
    proc = _start_create(home, armhf_tarball)
    assert wait_for(lambda: _staging_has_files(home), timeout=60)
    time.sleep(0.5)
    proc.kill()
    proc.communicate(timeout=60)
    assert _staging_has_files(home)
    assert armroot("list", home=home).returncode == 0
    assert list((home / "staging").iterdir()) == []
    assert list((home / "envs").iterdir()) == []


@pytest.mark.root
def test_store_on_a_noexec_filesystem_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "noexec-store"
    store.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "noexec,size=16m", "armroot-test", str(store)], check=True
    )
    try:
        tarball = _tar(tmp_path / "t.tar", [_file("etc/hostname", b"pi\n")])
        before = HostState.now()
        proc = armroot("create", "x", "--from", str(tarball), home=store)
        lines = error_lines(proc.stderr)
        assert proc.returncode == 6 and len(lines) == 1 and "noexec" in lines[0]
        assert list(store.iterdir()) == []
        assert HostState.now() == before
    finally:
        subprocess.run(["umount", str(store)], check=True)
