"""`armroot build`, `install`, `snapshot`/`reset` on real roots (needs root, qemu, network)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import armroot, error_lines
from tests.integration.conftest import ArmEnv, cache_dir, make_env
from tests.integration.workloads import FMT_SHA256, FMT_URL, fetch_pinned, unpack_fmt

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network]

USE_FMT = r"""
#include <fmt/format.h>
#include <sys/utsname.h>
int main() {
    utsname u{};
    uname(&u);
    fmt::print("{} says fmt {}.{}.{}\n", u.machine, FMT_VERSION / 10000,
               FMT_VERSION / 100 % 100, FMT_VERSION % 100);
    return 0;
}
"""
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n'


def _toml(path: Path, text: str) -> None:
    (path / "armroot.toml").write_text(text)


def _make_project(path: Path, cflags: str = "-O2") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "hello.c").write_text(HELLO_C)
    (path / "Makefile").write_text(f"hello: hello.c\n\t$(CC) {cflags} -o $@ $<\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_cmake_project_using_fmt_builds_and_runs(
    arch: str, shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs[arch]
    src = tmp_path / "usefmt"
    src.mkdir()
    unpack_fmt(fetch_pinned(FMT_URL, FMT_SHA256, cache_dir() / "sources"), src)
    (src / "main.cpp").write_text(USE_FMT)
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(usefmt CXX)\nadd_subdirectory(fmt)\n"
        "add_executable(usefmt main.cpp)\ntarget_link_libraries(usefmt fmt::fmt)\n"
    )
    board = {"arm64": "pi4", "armhf": "pi2"}[arch]
    _toml(
        src,
        f'[env]\nname = "{env.name}"\nboard = "{board}"\n'
        '[build]\nartifacts = ["usefmt"]\nsmoke = ["/build/usefmt"]\n',
    )
    out = tmp_path / "out"
    proc = armroot("build", "--src", str(src), "--out", str(out), home=env.home, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    machine = {"arm64": "aarch64", "armhf": "armv7l"}[arch]
    assert f"{machine} says fmt 9.1.0" in proc.stdout
    assert (out / "usefmt").is_file() and str(out / "usefmt") in proc.stdout
    ran = armroot("run", env.name, "--bind", f"{out}:/out", "--", "/out/usefmt", home=env.home)
    assert ran.stdout.strip() == f"{machine} says fmt 9.1.0"


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_plain_makefile_project_with_command(
    arch: str, shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs[arch]
    src = _make_project(tmp_path / "hello")
    _toml(src, '[build]\nartifacts = ["src:hello"]\n')
    out = tmp_path / "out"
    proc = armroot(
        "build",
        env.name,
        "--src",
        str(src),
        "--out",
        str(out),
        home=env.home,
        env={"SUDO_UID": "4321", "SUDO_GID": "4322"},
    )
    assert proc.returncode == 0, proc.stderr
    handed = (out / "hello").stat()
    assert (handed.st_uid, handed.st_gid) == (4321, 4322)  # the user who ran sudo owns it
    custom = armroot(
        "build",
        env.name,
        "--src",
        str(src),
        "--",
        "sh",
        "-c",
        "./hello > from-command.txt",
        home=env.home,
    )
    assert custom.returncode == 0, custom.stderr
    assert (src / "from-command.txt").read_text() == "hello from C\n"


CONFIGURE = """#!/bin/sh
# A hand-written configure script, as autotools projects ship one: it writes the Makefile
# into the directory it is run from (out of tree), pointing back at the sources.
srcdir=$(dirname "$0")
printf 'VPATH = %s\\nhello: hello.c\\n\\t$(CC) -O2 -o $@ $<\\n' "$srcdir" > Makefile
echo "configured in $(pwd) for $(uname -m)"
"""


def test_configure_script_project_builds_out_of_tree(
    shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs["armhf"]
    src = _make_project(tmp_path / "autotools")
    (src / "Makefile").unlink()
    (src / "configure").write_text(CONFIGURE)
    (src / "configure").chmod(0o755)
    _toml(src, '[build]\nartifacts = ["hello"]\nsmoke = ["/build/hello"]\n')
    proc = armroot(
        "build", env.name, "--src", str(src), "--out", str(tmp_path / "out"), home=env.home
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "configured in /build for armv7l" in proc.stdout
    assert "(autotools)" in proc.stderr and "hello from C" in proc.stdout
    assert not (src / "hello").exists() and (tmp_path / "out/hello").is_file()


@pytest.fixture(scope="module")
def zero_env(armel_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> ArmEnv:
    home = tmp_path_factory.mktemp("zero-store")
    created = armroot(
        "create", "zero", "--from", str(armel_tarball), "--board", "pi-zero", home=home
    )
    assert created.returncode == 0, created.stderr
    return ArmEnv(home, "zero", "armel")


def test_pi_zero_build_runs_under_arm1176(zero_env: ArmEnv, tmp_path: Path) -> None:
    src = _make_project(tmp_path / "zero")
    _toml(src, '[build]\nartifacts = ["src:hello"]\nsmoke = ["./hello"]\n')
    proc = armroot("build", "zero", "--src", str(src), home=zero_env.home)
    assert proc.returncode == 0, proc.stderr
    assert "arm1176" in proc.stderr and "hello from C" in proc.stdout


def test_armv7_binary_is_refused_for_a_pi_zero(zero_env: ArmEnv, tmp_path: Path) -> None:
    src = _make_project(tmp_path / "v7", cflags="-O2 -march=armv7-a")
    _toml(src, '[build]\nartifacts = ["src:hello"]\n')
    proc = armroot(
        "build", "zero", "--src", str(src), "--out", str(tmp_path / "out"), home=zero_env.home
    )
    assert proc.returncode == 10
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "ARMv7 instructions" in lines[0] and "pi-zero" in lines[0]
    assert "Illegal instruction" in lines[0]
    assert not (tmp_path / "out").exists()


def test_artifact_of_the_wrong_architecture_is_refused(
    shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs["arm64"]
    src = _make_project(tmp_path / "wrong")
    shutil.copy(os.path.realpath("/bin/true"), src / "hostbin")
    _toml(src, '[build]\nartifacts = ["src:hello", "src:hostbin"]\n')
    proc = armroot("build", env.name, "--src", str(src), home=env.home)
    lines = error_lines(proc.stderr)
    assert proc.returncode == 10 and len(lines) == 1
    assert "hostbin is x86_64 code, but the environment is arm64" in lines[0]


def test_bad_builds_say_what_is_wrong(shared_envs: dict[str, ArmEnv], tmp_path: Path) -> None:
    env = shared_envs["arm64"]
    empty = tmp_path / "empty"
    empty.mkdir()
    failing = _make_project(tmp_path / "failing")
    (failing / "Makefile").write_text(
        "hello:\n\techo compiling; echo 'boom: error 7' >&2; exit 7\n"
    )
    missing = _make_project(tmp_path / "missing")
    _toml(missing, '[build]\nartifacts = ["src:nothing-here"]\n')
    disagree = _make_project(tmp_path / "disagree")
    _toml(disagree, '[env]\nboard = "pi-zero"\n')
    unknown = _make_project(tmp_path / "unknown")
    _toml(unknown, '[env]\nboard = "pi6"\n')
    other_arch = _make_project(tmp_path / "other-arch")
    _toml(other_arch, '[env]\nimage = "debian:trixie-armhf"\n')
    cases = [
        (empty, "no build system found"),
        (failing, "the build failed with exit status 2"),
        (missing, "'nothing-here' was not built"),
        (disagree, "arm64 (v8) root, which pi-zero cannot run"),
        (unknown, "unknown board 'pi6'"),
        (other_arch, "image debian:trixie-armhf is armhf"),
    ]
    # A first build adds its mount point (/build) to the root: made before the digest.
    armroot("build", env.name, "--src", str(failing), home=env.home)
    before = _tree_digest(env.home / "envs" / env.name / "rootfs")
    for src, words in cases:
        proc = armroot("build", env.name, "--src", str(src), home=env.home)
        lines = error_lines(proc.stderr)
        assert proc.returncode != 0 and len(lines) == 1, (src, proc.stderr)
        assert words in lines[0], (src, lines)
    failed = armroot("build", env.name, "--src", str(failing), home=env.home)
    assert "boom: error 7" in failed.stdout  # the build's own output, streamed
    # --offline installs nothing: armroot.toml's missing package is one line, not a download.
    wants = _make_project(tmp_path / "wants-hello")
    _toml(wants, '[env]\npackages = ["make", "hello"]\n')
    offline = armroot("build", env.name, "--src", str(wants), "--offline", home=env.home)
    assert offline.returncode != 0
    assert error_lines(offline.stderr) == [
        f"armroot: error: armroot.toml's packages hello are not installed in '{env.name}', "
        "and --offline downloads nothing: build once without --offline to install them"
    ], offline.stderr
    assert _tree_digest(env.home / "envs" / env.name / "rootfs") == before
    # A missing env with --offline, where nothing can be reached: the cache has no bootstrap
    # of armroot.toml's image, so one line, and nothing is left in the store.
    new = _make_project(tmp_path / "new-env")
    _toml(new, '[env]\nname = "made-offline"\nimage = "debian:trixie"\n')
    cut_off = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "armroot", "build", "--offline"],
        cwd=new,
        env=dict(os.environ, ARMROOT_HOME=str(env.home), ARMROOT_CACHE=str(tmp_path / "cache")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cut_off.returncode != 0
    assert error_lines(cut_off.stderr) == [
        "armroot: error: no cached bootstrap of Debian trixie arm64 (apt + build-essential,"
        "ca-certificates,cmake) from http://deb.debian.org/debian: drop --offline to "
        "bootstrap it from the archive"
    ], cut_off.stderr
    assert not (env.home / "envs/made-offline").exists()


def _tree_digest(root: Path) -> str:
    """A digest of every path, type, mode, owner, size, mtime and link target below root."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            link = os.readlink(path) if os.path.islink(path) else ""
            h.update(
                f"{path}|{st.st_mode}|{st.st_uid}|{st.st_gid}|{st.st_size}|"
                f"{st.st_mtime_ns}|{link}\n".encode()
            )
    return h.hexdigest()


@pytest.mark.slow
def test_ephemeral_build_leaves_the_env_byte_identical(
    arm64_tarball: Path, home: Path, tmp_path: Path
) -> None:
    env = make_env(arm64_tarball, "arm64", home, "eph")
    rootfs = home / "envs/eph/rootfs"
    before = _tree_digest(rootfs)
    src = _make_project(tmp_path / "eph")
    _toml(src, '[env]\npackages = ["hello"]\n[build]\nsmoke = ["hello", "-g", "installed"]\n')
    proc = armroot("build", env.name, "--src", str(src), "--ephemeral", home=home, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert _tree_digest(rootfs) == before
    gone = armroot("run", env.name, "--", "sh", "-c", "command -v hello || echo absent", home=home)
    assert gone.stdout.strip() == "absent"


@pytest.mark.slow
def test_install_snapshot_and_reset(arm64_tarball: Path, home: Path) -> None:
    env = make_env(arm64_tarball, "arm64", home, "pkgs")
    assert armroot("snapshot", env.name, "clean", home=home).returncode == 0
    installed = armroot("install", env.name, "hello", home=home, timeout=1800)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    ran = armroot("run", env.name, "--", "hello", "-g", "packaged", home=home)
    assert ran.stdout.strip() == "packaged"
    reset = armroot("reset", env.name, home=home)
    assert reset.returncode == 0, reset.stderr
    after = armroot("run", env.name, "--", "sh", "-c", "command -v hello || echo absent", home=home)
    assert after.stdout.strip() == "absent"
    bad = armroot("install", env.name, "no-such-package-armroot", home=home, timeout=1800)
    assert bad.returncode != 0 and len(error_lines(bad.stderr)) == 1
