"""Sessions that run the root's own programs through their amd64 twins (armroot.twins,
armroot.accel.twin_session): real roots, the real archive, the session's own binfmt_misc
handlers; every result compared with the fully emulated one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import armroot
from tests.integration.conftest import ArmEnv, make_env

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network]

# The product's default: what a user who asks for nothing gets (the suite's own default is
# the clang path, tests/conftest.py).
AUTO = {"ARMROOT_ACCEL": "auto"}
MACHINE = {"arm64": "aarch64", "armhf": "armv7l"}
TRIPLE = {"arm64": "aarch64-linux-gnu", "armhf": "arm-linux-gnueabihf"}
LOADER = re.compile(r"^/run/armroot/twins/cache/trees/[0-9a-f]{64}/usr/lib/x86_64-linux-gnu/ld-")


def _run(env: ArmEnv, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return armroot("run", *args, home=env.home, env=AUTO, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _rootfs(env: ArmEnv) -> Path:
    return env.home / "envs" / env.name / "rootfs"


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_the_roots_own_programs_run_natively_and_answer_as_the_board(
    arch: str, shared_envs: dict[str, ArmEnv]
) -> None:
    env = shared_envs[arch]
    # $$ is the shell: the root's dash, run by its twin (its loader is what the kernel runs).
    # Perl has no twin: QEMU runs it, started by the native shell, and shows the ARM program.
    script = (
        "readlink /proc/$$/exe; uname -m; dpkg --print-architecture; gcc -dumpmachine; "
        'perl -e \'print readlink("/proc/self/exe"), "\\n"\'; env'
    )
    lines = _ok(_run(env, env.name, "--", "sh", "-c", script)).splitlines()
    assert LOADER.match(lines[0]), lines[0]
    assert lines[1:5] == [MACHINE[arch], arch, TRIPLE[arch], "/usr/bin/perl"]
    # Nothing a twin needs reaches the programs it starts.
    environment = dict(line.split("=", 1) for line in lines[5:] if "=" in line)
    assert not [k for k in environment if k.startswith("LD_") or k == "GCC_EXEC_PREFIX"]
    # ... but the compiler cache, first on PATH (ccache runs the root's gcc, found next).
    path = environment["PATH"].split(":")
    assert path[0] == "/run/armroot/ccache/bin"
    assert not [p for p in path[1:] if p.startswith("/run/armroot")], path
    # The handler says what ran natively.
    verbose = _run(
        env, "-v", env.name, "--", "sh", "-c", "make --version >/dev/null; dpkg -l dash >/dev/null"
    )
    _ok(verbose)
    assert re.search(
        r"armroot twins: /usr/bin/make: native twin /run/armroot/twins/cache/trees/", verbose.stderr
    )
    assert "armroot twins: /usr/bin/dpkg: emulated" in verbose.stderr
    # info and doctor say what runs natively and what does not.
    info = _ok(armroot("info", env.name, home=env.home))
    assert "programs:        twins (the root's own gcc and build tools, native)" in info
    native = next(line for line in info.splitlines() if line.startswith("native:"))
    assert {
        "make",
        "dash",
        "coreutils",
        f"gcc-14-{TRIPLE[arch]}",
        "dpkg (only /usr/bin/dpkg-deb)",
        "apt (only /usr/lib/apt/methods/* and /usr/bin/apt-get)",
    } <= set(native[17:].split(", "))
    assert "emulated:        perl, python, dpkg, apt's other programs, and everything" in info
    doctor = armroot("doctor", "--env", env.name, home=env.home)
    assert f"native programs in '{env.name}'" in doctor.stdout, doctor.stdout
    # The twinned packages' files in the env are the packages' own.
    _ok(
        armroot(
            "run",
            env.name,
            "--accel",
            "none",
            "--",
            "dpkg",
            "--verify",
            "make",
            "dash",
            "coreutils",
            "sed",
            home=env.home,
        )
    )


CXX = """\
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>
int main(int argc, char **argv) {
    std::map<std::string, int> counts;
    std::vector<std::string> words(argv + 1, argv + argc);
    std::sort(words.begin(), words.end());
    for (const auto &w : words) counts[w]++;
    for (const auto &[w, n] : counts) std::cout << w << " " << n << "\\n";
}
"""
C = """\
#include <math.h>
#include <stdio.h>
int main(void) { double s = 0; for (int i = 1; i < 100; i++) s += sqrt(i); printf("%.3f\\n", s); }
"""
OMP = """\
#include <omp.h>
#include <stdio.h>
int main(void) {
    long sum = 0;
    #pragma omp parallel for reduction(+:sum)
    for (long i = 1; i <= 1000; i++) sum += i;
    printf("%ld %d\\n", sum, omp_get_max_threads());
}
"""
# Compile, link, compile-and-link (g++ and gcc add -lm: the offloading option arm64's gcc
# records), LTO, OpenMP with the root's libgomp; then run what was built.
STEPS = """\
set -e
g++ -O2 -g -c t.cpp -o t.o
g++ -O2 t.o -o t
g++ -O2 -g t.cpp -o t1
gcc -O2 -g c.c -o c -lm
gcc -O2 -flto -frandom-seed=1 -c c.c -o lto.o
gcc -O2 -flto lto.o -o lto -lm
gcc -O2 -g -fopenmp omp.c -o omp
./t b a b
./c
OMP_NUM_THREADS=3 ./omp
"""
OUTPUTS = ("t.o", "t", "t1", "c", "lto.o", "lto", "omp")


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_the_twin_gcc_makes_the_bytes_the_emulated_gcc_makes(
    arch: str, shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs[arch]
    shown = {}
    for mode in ("twins", "none"):
        work = tmp_path / mode  # at /w for both: the debug info records where gcc ran
        work.mkdir()
        for name, text in (("t.cpp", CXX), ("c.c", C), ("omp.c", OMP), ("steps.sh", STEPS)):
            (work / name).write_text(text)
        proc = _run(
            env, env.name, "--accel", mode, "--bind", f"{work}:/w", "--workdir", "/w",
            "--", "sh", "steps.sh",
        )  # fmt: skip
        shown[mode] = _ok(proc)
    assert shown["twins"] == shown["none"] == "a 1\nb 2\n661.463\n500500 3\n"
    for name in OUTPUTS:
        twin, emulated = tmp_path / "twins" / name, tmp_path / "none" / name
        assert twin.read_bytes() == emulated.read_bytes(), name


@pytest.mark.slow
def test_tinyxml2_builds_the_same_objects_and_tests_with_twins_as_emulated(
    shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    """A second C++ project beside fmt (whose emulated reference build runs with
    ARMROOT_TEST_REFERENCE=1): every object file, with its debug info, and the test program
    byte for byte the emulated gcc's; its tests pass both ways."""
    from tests.integration.conftest import cache_dir
    from tests.integration.test_accel import _build_dir
    from tests.integration.workloads import (
        TINYXML2_SHA256,
        TINYXML2_URL,
        fetch_pinned,
        unpack_tinyxml2,
    )

    env = shared_envs["arm64"]
    tarball = fetch_pinned(TINYXML2_URL, TINYXML2_SHA256, cache_dir() / "sources")
    src = unpack_tinyxml2(tarball, tmp_path)
    configure = ["cmake", "-S", ".", "-B", "/build", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
    configure += ["-Dtinyxml2_BUILD_TESTING=ON"]
    build = "cmake --build /build -- -j2 && cd /build && ctest --output-on-failure"
    (src / "armroot.toml").write_text(
        f'[env]\nname = "{env.name}"\n[build]\nconfigure = {json.dumps(configure)}\n'
        f'build = ["sh", "-c", {json.dumps(build)}]\nartifacts = ["xmltest"]\n'
    )
    dirs = {}
    for mode in ("twins", "none"):
        out = tmp_path / f"out-{mode}"
        proc = armroot(
            "build", "--src", str(src), "--out", str(out), "--accel", mode,
            home=env.home, timeout=1800,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        dirs[mode] = _build_dir(env, src, mode)
        log = (dirs[mode] / "armroot-build.log").read_text()
        assert "100% tests passed, 0 tests failed out of 1" in log, log[-3000:]
    objects = sorted(p.relative_to(dirs["none"]) for p in dirs["none"].rglob("*.o"))
    assert len(objects) >= 2, objects  # the library's and the test's
    assert sorted(p.relative_to(dirs["twins"]) for p in dirs["twins"].rglob("*.o")) == objects
    for obj in objects:
        assert (dirs["twins"] / obj).read_bytes() == (dirs["none"] / obj).read_bytes(), obj
    twinned, emulated = (tmp_path / f"out-{m}/xmltest" for m in ("twins", "none"))
    assert twinned.read_bytes() == emulated.read_bytes()


OGG = "http://deb.debian.org/debian/pool/main/libo/libogg/"
OGG_FILES = {  # Debian's libogg 1.3.5-3 source package (trixie)
    "libogg_1.3.5.orig.tar.xz": "c4d91be36fc8e54deae7575241e03f4211eb102afb3fc0775fbbc1b740016705",
    "libogg_1.3.5-3.debian.tar.xz": (
        "980cc7c95d72d2a9c56cf9d602b8296c6551528890f28fee6769b801ea0e54f3"
    ),
}
OGG_DEBS = (
    "libogg0_1.3.5-3_arm64.deb",
    "libogg-dev_1.3.5-3_arm64.deb",
    "libogg0-dbgsym_1.3.5-3_arm64.deb",
)
CONFIGURED = (
    "config.h",
    "config.status",
    "Makefile",
    "src/Makefile",
    "include/ogg/config_types.h",
    "libtool",
)


def _ogg_source(into: Path) -> Path:
    from tests.integration.conftest import cache_dir
    from tests.integration.workloads import fetch_pinned

    into.mkdir()
    orig, debian = (
        fetch_pinned(OGG + name, sha, cache_dir() / "sources") for name, sha in OGG_FILES.items()
    )
    subprocess.run(["tar", "-C", str(into), "-xJf", str(orig)], check=True)
    subprocess.run(["tar", "-C", str(into / "libogg-1.3.5"), "-xJf", str(debian)], check=True)
    return into


@pytest.mark.slow
def test_a_debian_package_builds_the_same_debs_with_twins_and_with_clang_too(
    arm64_tarball: Path, home: Path, tmp_path: Path
) -> None:
    """`dpkg-buildpackage -b` of Debian's libogg (its autoconf/libtool configure, make, its
    tests, debhelper's dwz and strip): with twins, the .debs are byte for byte the fully
    emulated build's, and so is everything configure wrote. With native clang a Debian
    package builds too, its debug-info steps included: a small package of the test's own
    (libogg's emulated configure would cost the suite minutes more for the same steps)."""
    env = make_env(arm64_tarball, "arm64", home, "pkg")
    try:
        _ok(
            armroot("install", env.name, "dpkg-dev", "debhelper", home=home, env=AUTO, timeout=1800)
        )
        build = ("--workdir", "/src/libogg-1.3.5", "--", "dpkg-buildpackage", "-b", "-uc", "-us")
        for mode in ("twins", "none"):
            src = _ogg_source(tmp_path / mode)  # at /src for each: builds record where they ran
            proc = _run(
                env, env.name, "--accel", mode, "--bind", f"{src}:/src", *build, timeout=3000
            )
            _ok(proc)
            assert "dh_auto_test" in proc.stdout + proc.stderr  # its tests ran, and passed
            for deb in OGG_DEBS:
                assert (src / deb).is_file(), (mode, deb)
        for deb in OGG_DEBS:
            assert (tmp_path / "twins" / deb).read_bytes() == (
                tmp_path / "none" / deb
            ).read_bytes(), deb
        for name in CONFIGURED:
            twin = tmp_path / "twins/libogg-1.3.5" / name
            assert twin.read_bytes() == (tmp_path / "none/libogg-1.3.5" / name).read_bytes(), name
        probe = tmp_path / "clang"
        for name, text in PROBE_PACKAGE.items():
            (probe / "armroot-probe" / name).parent.mkdir(parents=True, exist_ok=True)
            (probe / "armroot-probe" / name).write_text(text)
        (probe / "armroot-probe/debian/rules").chmod(0o755)
        proc = _run(
            env, env.name, "--accel", "clang", "--bind", f"{probe}:/src",
            "--workdir", "/src/armroot-probe", "--", "dpkg-buildpackage", "-b", "-uc", "-us",
        )  # fmt: skip
        output = _ok(proc) + proc.stderr
        assert "dh_dwz" in output and "dh_strip" in output, output[-3000:]
        for deb in ("armroot-probe_1.0_arm64.deb", "armroot-probe-dbgsym_1.0_arm64.deb"):
            assert (probe / deb).is_file(), deb
    finally:
        armroot("rm", env.name, home=home)


# A Debian package of the test's own: one C program, debhelper's whole sequence.
PROBE_PACKAGE = {
    "probe.c": '#include <stdio.h>\nint main(void) { puts("probe"); return 0; }\n',
    "Makefile": (
        "probe: probe.c\n\t$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<\n"
        "install: probe\n\tinstall -D probe $(DESTDIR)/usr/bin/probe\n"
    ),
    "debian/control": (
        "Source: armroot-probe\nSection: misc\nPriority: optional\n"
        "Maintainer: armroot tests <tests@example.invalid>\n"
        "Build-Depends: debhelper-compat (= 13)\nStandards-Version: 4.7.0\n\n"
        "Package: armroot-probe\nArchitecture: any\n"
        "Depends: ${shlibs:Depends}, ${misc:Depends}\nDescription: a probe\n a probe.\n"
    ),
    "debian/changelog": (
        "armroot-probe (1.0) unstable; urgency=medium\n\n  * A probe.\n\n"
        " -- armroot tests <tests@example.invalid>  Tue, 01 Dec 2026 00:00:00 +0000\n"
    ),
    "debian/rules": "#!/usr/bin/make -f\n%:\n\tdh $@\n",
    "debian/source/format": "3.0 (native)\n",
}


FORTRAN = """\
program sums
  implicit none
  integer :: i
  real(8) :: s = 0
  do i = 1, 100
    s = s + sqrt(real(i, 8))
  end do
  print '(F10.3)', s
end program sums
"""


def test_installs_use_twins_and_the_next_session_twins_what_they_installed(
    arm64_tarball: Path, home: Path, tmp_path: Path
) -> None:
    """While twins run its maintainer scripts, `armroot install` brings gfortran (a twinned
    compiler); the next session runs its twin, whose Fortran is the emulated one's, and the
    env's files are the packages'. A reinstalled twinned program keeps its twin."""
    env = make_env(arm64_tarball, "arm64", home, "f")
    try:
        done = armroot("install", env.name, "gfortran", home=home, env=AUTO, timeout=1800)
        _ok(done)
        (tmp_path / "s.f90").write_text(FORTRAN)
        build = "gfortran -O2 -g s.f90 -o s-$1 && ./s-$1"
        results = {}
        for mode in ("twins", "none"):
            proc = _run(
                env, "-v", env.name, "--accel", mode, "--bind", f"{tmp_path}:/p", "--workdir", "/p",
                "--", "sh", "-c", build, "sh", mode,
            )  # fmt: skip
            results[mode] = _ok(proc)
            if mode == "twins":
                assert re.search(r"/f951: native twin /run/armroot/twins/cache/trees/", proc.stderr)
        assert results["twins"] == results["none"] == "   671.463\n"
        assert (tmp_path / "s-twins").read_bytes() == (tmp_path / "s-none").read_bytes()
        reinstall = "apt-get install -y -q --reinstall sed >/dev/null && sed --version | head -1"
        assert _ok(_run(env, env.name, "--", "sh", "-c", reinstall)).startswith("sed (GNU sed)")
        verbose = _run(env, "-v", env.name, "--", "sed", "--version")
        assert re.search(r"armroot twins: /usr/bin/sed: native twin", verbose.stderr)
        verify = ("dpkg", "--verify", "sed", "gfortran-14-aarch64-linux-gnu", "make")
        _ok(armroot("run", env.name, "--accel", "none", "--", *verify, home=home))
    finally:
        armroot("rm", env.name, home=home)


def _set_status(env: ArmEnv, package: str, version: str) -> None:
    """Say in the env's dpkg database that ``package`` has another version (the env is the
    test's own)."""
    status = _rootfs(env) / "var/lib/dpkg/status"
    text = status.read_text()
    head, found, tail = text.partition(f"Package: {package}\n")
    assert found
    paragraph, sep, rest = tail.partition("\n\n")
    paragraph = re.sub(r"^Version: .*$", f"Version: {version}", paragraph, flags=re.M)
    status.write_text(head + found + paragraph + sep + rest)


def test_faults_leave_programs_emulated_with_one_line(arm64_tarball: Path, home: Path) -> None:
    env = make_env(arm64_tarball, "arm64", home, "faults")
    try:
        # A version the archive no longer has: that program stays emulated, said once.
        _set_status(env, "make", "4.4.1-1")
        first = _run(env, "--accel", "twins", env.name, "--", "make", "--version")
        assert _ok(first).startswith("GNU Make 4.4.1")
        said = [line for line in first.stderr.splitlines() if "make stays emulated" in line]
        assert said == [
            "warning: make stays emulated: the archive has 4.4.1-2 for amd64, not 4.4.1-1"
        ], first.stderr
        again = _run(env, env.name, "--accel", "twins", "--", "true")
        assert "stays emulated" not in _ok(again) + again.stderr  # said when the set was made
        verbose = _run(
            env, "-v", env.name, "--accel", "twins", "--", "sh", "-c", "make -v >/dev/null"
        )
        assert "armroot twins: /usr/bin/make: emulated" in verbose.stderr
        # A twin altered in the cache is found and unpacked again from its verified .deb.
        twins = home / "cache/twins"
        dash = next(twins.glob("trees/*/usr/bin/dash"))
        dash.write_bytes(dash.read_bytes()[:1000])
        _set_status(env, "make", "4.4.1-2")  # the package database changed: a new set
        altered = _run(env, env.name, "--", "sh", "-c", "echo $((6 * 7))")
        assert _ok(altered) == "42\n"
        assert "was changed" in altered.stderr
        assert os.path.getsize(dash) > 1000
        # No network: the archive cannot be reached; the session runs emulated, one line.
        sources = _rootfs(env) / "etc/apt/sources.list"
        sources.write_text("deb http://127.0.0.1:9/debian trixie main\n")
        offline = _run(env, env.name, "--accel", "twins", "--", "uname", "-m")
        assert _ok(offline) == "aarch64\n"
        lines = [
            line for line in offline.stderr.splitlines() if line.startswith(("warning", "armroot"))
        ]
        assert len(lines) == 1 and "without twins" in lines[0] and "127.0.0.1:9" in lines[0], lines
    finally:
        armroot("rm", env.name, home=home)


def test_two_first_sessions_fetch_once_and_a_killed_fetch_leaves_nothing_used(
    arm64_tarball: Path, home: Path
) -> None:
    env = make_env(arm64_tarball, "arm64", home, "first")
    try:
        command = [sys.executable, "-m", "armroot", "run", env.name, "--", "sh", "-c", "echo ok"]
        environ = dict(os.environ, ARMROOT_HOME=str(home), **AUTO)
        # Killed while it fetches: what it left is never taken for a twin.
        killed = subprocess.Popen(command, env=environ, stderr=subprocess.PIPE, text=True)
        debs = home / "cache/twins/debs"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(list(debs.glob("*.deb"))) < 3:
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait(60)
        both = [
            subprocess.Popen(
                command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=1800) for p in both]
        assert [p.returncode for p in both] == [0, 0], outputs
        assert [out for out, _ in outputs] == ["ok\n", "ok\n"]
        fetching = [err for _, err in outputs if "Fetching native twins" in err]
        assert len(fetching) <= 1, outputs  # one fetched (what the killed one had not); one waited
        sets = list((home / "cache/twins/sets").iterdir())
        assert [s for s in sets if not s.name.startswith(".")] and not [
            s for s in sets if ".partial-" in s.name
        ]
        assert not list((home / "cache/twins/trees").glob(".*partial*"))
        shell = _ok(_run(env, env.name, "--", "sh", "-c", "readlink /proc/$$/exe"))
        assert LOADER.match(shell), shell
    finally:
        armroot("rm", env.name, home=home)


def test_a_full_cache_during_the_twin_fetch_runs_emulated_with_one_line(
    arm64_tarball: Path, home: Path
) -> None:
    env = make_env(arm64_tarball, "arm64", home, "fullcache")
    # The cache on a 40 MB tmpfs (the cross compilers alone are more), in a mount namespace
    # of the test's own; what the cache holds afterwards is listed before it goes.
    script = (
        'mount -t tmpfs -o size=40m tmpfs "$0" && ARMROOT_CACHE="$0" "$@"; status=$?; '
        'echo "--- sets:"; ls -A "$0/twins/sets" 2>/dev/null; '
        'echo "--- partial trees:"; ls -A "$0/twins/trees" 2>/dev/null | grep partial; '
        "exit $status"
    )
    cache = home / "small-cache"
    cache.mkdir()
    unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(cache)]
    argv = [sys.executable, "-m", "armroot", "run", env.name, "--accel", "twins", "--"]
    try:
        proc = subprocess.run(
            [*unshare, *argv, "sh", "-c", "echo ok; readlink /proc/$$/exe"],
            env=dict(os.environ, ARMROOT_HOME=str(home)),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
        said, rest = proc.stdout.split("--- sets:\n")
        sets, trees = rest.split("--- partial trees:\n")
        assert said.splitlines()[0] == "ok" and not LOADER.match(said.splitlines()[1]), said
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(("warning", "armroot"))]
        assert len(lines) == 1 and "without twins: No space left on device" in lines[0], lines
        assert "Traceback" not in proc.stderr
        assert [s for s in sets.split() if not s.startswith(".")] == [], sets  # no set made
        assert ".partial" not in sets and trees.strip() == "", (sets, trees)
    finally:
        armroot("rm", env.name, home=home)
