"""Distributed compiles and the compiler cache, for real: armroot helpers (the distribution's
distccd with armroot's clang) on their own addresses inside a network namespace this module
makes (loopback only: nothing else is reachable from it), fmt built in a real arm64 env,
its objects compared byte for byte with a local build's, ccache's hit figures read from
`armroot build --verbose`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers import armroot, wait_for
from tests.integration.conftest import ArmEnv
from tests.integration.test_accel import _build_dir, _fmt_project
from tests.integration.workloads import FMT_GTEST_SYSTEM_PACKAGES

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network, pytest.mark.slow]

NET = "10.77.0"  # the namespace's addresses, all on its own loopback
HELPERS = {"one": f"{NET}.2", "two": f"{NET}.3", "other-zig": f"{NET}.4", "strict": f"{NET}.5"}
NOBODY = f"{NET}.9"  # an address nothing listens on


class Netns(NamedTuple):
    holder: subprocess.Popen[bytes]  # the process whose network namespace this is

    def argv(self, *words: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", *words]


@pytest.fixture(scope="module")
def netns() -> Iterator[Netns]:
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "7200"])
    ns = Netns(holder)
    try:
        time.sleep(0.2)
        subprocess.run(ns.argv("ip", "link", "set", "lo", "up"), check=True)
        for address in (*HELPERS.values(), NOBODY):
            subprocess.run(ns.argv("ip", "addr", "add", f"{address}/32", "dev", "lo"), check=True)
        yield ns
    finally:
        holder.kill()  # by PID: the namespace goes with its last process
        holder.wait()


class Helper(NamedTuple):
    process: subprocess.Popen[bytes]
    log: Path

    def jobs(self) -> int:
        """Compiles this helper served for builds (not the clients' check compiles)."""
        text = self.log.read_text(errors="replace")
        return sum(1 for ln in text.splitlines() if "COMPILE_OK" in ln and "probe." not in ln)

    def keeper(self) -> int:
        """The shell armroot runs distccd under (in a session of its own)."""
        return _child(self.process.pid, self.log)

    def distccd(self) -> int:
        """The helper's distccd (the keeper's child, in a process group of its own)."""
        return _child(self.keeper(), self.log)


def _child(pid: int, log: Path) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert children, log.read_text()
    return int(children[0])


def _group(pgid: int) -> set[int]:
    """The processes of a process group."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid:
            found.add(int(stat.parent.name))
    return found


def _environ(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, ARMROOT_HOME=str(home))
    env.update(extra or {})
    return env


def _serve(
    ns: Netns,
    home: Path,
    address: str,
    log: Path,
    allow: str,
    env: Mapping[str, str] | None = None,
    serves: tuple[str, ...] = (),
) -> Helper:
    argv = [sys.executable, "-m", "armroot", "helper", "serve", "--listen", address]
    argv += [word for name in serves for word in ("--env", name)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            ns.argv(*argv, "--allow", allow, "--jobs", "2"),
            env=_environ(home, env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    helper = Helper(process, log)
    deadline = time.monotonic() + 60
    try:
        while "statistics on port" not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    except BaseException:
        _stop(helper)
        raise
    time.sleep(0.5)  # distccd binds after armroot's line
    return helper


def _stop(helper: Helper) -> None:
    if helper.process.poll() is None:
        helper.process.terminate()  # armroot ends its distccd, by PID
    helper.process.wait(timeout=30)


@pytest.fixture
def other_zig() -> Iterator[Path]:
    """The same clang with one byte more at the end of the zig binary: another build, as a
    helper with another armroot's zig would have (its lib/ beside it, as zig expects); where
    the helper's distccd, serving as nobody, can run it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="armroot-test-zig-") as work:
        os.chmod(work, 0o755)
        yield _other_zig(Path(work))


def _other_zig(tmp: Path) -> Path:
    import ziglang  # type: ignore[import-untyped]

    original = Path(ziglang.__file__).parent
    other = tmp / "other-zig"
    other.mkdir()
    shutil.copyfile(original / "zig", other / "zig")
    with (other / "zig").open("ab") as f:
        f.write(b"\0")
    os.chmod(other / "zig", 0o755)
    (other / "lib").symlink_to(original / "lib")
    return other / "zig"


def _objects(build_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(build_dir)): p.read_bytes()
        for p in sorted(build_dir.glob("**/*.dir/**/*.o"))
    }


def _build(
    ns: Netns, env: ArmEnv, src: Path, *options: str, timeout: float = 1500, accel: str = "clang"
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "armroot", "-v", "build", "--src", str(src), "--accel", accel]
    return subprocess.run(
        ns.argv(*argv, *options),
        env=_environ(env.home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _cache_line(done: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    found = re.search(r"compiler cache: (\d+) hits?, (\d+) miss(?:es)?", done.stdout + done.stderr)
    assert found, done.stderr[-3000:]
    return int(found[1]), int(found[2])


class Fmt(NamedTuple):
    env: ArmEnv
    src: Path
    reference: dict[str, bytes]  # objects of a local build without the cache


@pytest.fixture(scope="module")
def arm64(shared_envs: dict[str, ArmEnv]) -> ArmEnv:
    """The shared arm64 env with what the builds in the namespace (which reaches nothing)
    would fetch: fmt's packages, the native cmake's wheel."""
    env = shared_envs["arm64"]
    armroot("install", env.name, *FMT_GTEST_SYSTEM_PACKAGES, home=env.home, check=True)
    cmake = ("run", env.name, "--accel", "clang", "--", "cmake", "--version")
    armroot(*cmake, home=env.home, check=True)
    return env


@pytest.fixture(scope="module")
def fmt(netns: Netns, arm64: ArmEnv, tmp_path_factory: pytest.TempPathFactory) -> Fmt:
    env = arm64
    src = _fmt_project(tmp_path_factory.mktemp("distribute"), env)
    toml = src / "armroot.toml"  # as many jobs as armroot says the helpers add
    toml.write_text(toml.read_text().replace("-- -j2 ", "-- -j$ARMROOT_JOBS "))
    done = _build(netns, env, src, "--no-cache")
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _objects(_build_dir(env, src, "clang"))
    assert len(reference) >= 6, sorted(reference)
    return Fmt(env, src, reference)


def _clean(fmt: Fmt, accel: str = "clang") -> Path:
    build_dir = _build_dir(fmt.env, fmt.src, accel)
    shutil.rmtree(build_dir)  # armroot's own directory: nothing is mounted there now
    build_dir.mkdir()
    return build_dir


def test_fmt_compiles_on_helpers_the_same_objects_and_a_warm_cache_serves_them(
    netns: Netns, fmt: Fmt, tmp_path: Path, other_zig: Path
) -> None:
    cache = fmt.env.home / "cache"
    other = other_zig
    helpers: dict[str, Helper] = {}
    try:
        for name, env in (("one", None), ("two", None), ("other-zig", {"ARMROOT_ZIG": str(other)})):
            log = tmp_path / f"{name}.log"
            helpers[name] = _serve(netns, tmp_path, HELPERS[name], log, f"{NET}.0/24", env)
        shutil.rmtree(cache / "ccache", ignore_errors=True)  # this store's: a cold cache
        _clean(fmt)
        hosts = ",".join(HELPERS[n] for n in ("one", "two", "other-zig"))
        done = _build(netns, fmt.env, fmt.src, "--distribute", hosts)
        assert done.returncode == 0, done.stderr[-3000:]
        out = done.stdout + done.stderr
        built = (_build_dir(fmt.env, fmt.src, "clang") / "armroot-build.log").read_text()
        assert "100% tests passed" in built
        # The helper with another zig is refused by the compiler's name, in one line.
        refused = [ln for ln in out.splitlines() if HELPERS["other-zig"] in ln]
        assert len(refused) == 1 and "armroot-clang-" in refused[0] and "not used" in refused[0]
        assert helpers["other-zig"].jobs() == 0
        assert helpers["one"].jobs() > 0 and helpers["two"].jobs() > 0, out[-3000:]
        # This machine's cores, and each helper's 2 and one queued.
        jobs = len(os.sched_getaffinity(0)) + 6
        assert f"-j{jobs}" in out
        assert _objects(_build_dir(fmt.env, fmt.src, "clang")) == fmt.reference
        # Cold: each object compiled (and distributed) once; a source the build compiles
        # twice the same way (fmt's test-main and posix-mock-test share some) hits already.
        hits, misses = _cache_line(done)
        assert misses >= len(fmt.reference), (hits, misses)
    finally:
        for helper in helpers.values():
            _stop(helper)
    # A clean build dir again, no helpers: the cache has every compile.
    _clean(fmt)
    warm = _build(netns, fmt.env, fmt.src)
    assert warm.returncode == 0, warm.stderr[-3000:]
    hits, misses = _cache_line(warm)
    assert hits / (hits + misses) >= 0.95, (hits, misses)
    assert _objects(_build_dir(fmt.env, fmt.src, "clang")) == fmt.reference


@pytest.fixture(scope="module")
def fmt_twins(netns: Netns, fmt: Fmt) -> Fmt:
    """fmt built here with the env's twin gcc, without the cache: the objects a distributed
    twins build must make. The twins are fetched first, outside the namespace."""
    warm = ("run", fmt.env.name, "--accel", "twins", "--", "true")
    armroot(*warm, home=fmt.env.home, check=True)
    done = _build(netns, fmt.env, fmt.src, "--no-cache", accel="twins")
    assert done.returncode == 0, done.stderr[-3000:]
    reference = _objects(_build_dir(fmt.env, fmt.src, "twins"))
    assert len(reference) >= 6, sorted(reference)
    return fmt._replace(reference=reference)


def test_fmt_with_the_twin_gcc_compiles_on_a_helper_serving_the_env_the_same_objects(
    netns: Netns, fmt_twins: Fmt, tmp_path: Path
) -> None:
    """A helper serving the env (`helper serve --env`) takes the twin gcc's compiles; one
    serving only clang is refused by the twin compiler's name; the objects are the local
    twin gcc's, byte for byte; the tests pass."""
    fmt, env = fmt_twins, fmt_twins.env
    helpers: dict[str, Helper] = {}
    try:
        log = tmp_path / "one.log"
        net = f"{NET}.0/24"
        helpers["one"] = _serve(netns, env.home, HELPERS["one"], log, net, None, (env.name,))
        served = log.read_text()
        assert "twin compilers of" in served and "armroot-g++-" in served, served
        log = tmp_path / "two.log"
        helpers["two"] = _serve(netns, tmp_path, HELPERS["two"], log, f"{NET}.0/24")
        build_dir = _clean(fmt, "twins")
        hosts = ",".join(HELPERS[n] for n in ("one", "two"))
        done = _build(netns, env, fmt.src, "--no-cache", "--distribute", hosts, accel="twins")
        assert done.returncode == 0, done.stderr[-3000:]
        out = done.stdout + done.stderr
        assert "100% tests passed" in (build_dir / "armroot-build.log").read_text()
        refused = [ln for ln in out.splitlines() if HELPERS["two"] in ln]
        assert len(refused) == 1 and "not used" in refused[0], refused
        assert re.search(r"refused a compile for armroot-g\+\+-[0-9a-f]{16} ", refused[0])
        assert helpers["two"].jobs() == 0
        assert helpers["one"].jobs() > 0, out[-3000:]
        assert f"-j{len(os.sched_getaffinity(0)) + 3}" in out
        assert _objects(build_dir) == fmt.reference
        check = subprocess.run(
            netns.argv(
                sys.executable, "-m", "armroot", "helper", "check", HELPERS["one"],
                "--env", env.name, "--accel", "twins",
            ),
            env=_environ(env.home),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
        assert re.search(r": ready, armroot-g\+\+-[0-9a-f]{16}, armroot-gcc-", check.stdout)
        gcc = re.search(r"armroot-gcc-[0-9a-f]{16}", check.stdout)
        assert gcc
        _refuses_what_runs_its_programs(netns, HELPERS["one"], gcc[0], tmp_path)
    finally:
        for helper in helpers.values():
            _stop(helper)


def _refuses_what_runs_its_programs(ns: Netns, address: str, name: str, tmp_path: Path) -> None:
    """distcc sent straight to the helper (no local retry): a plain compile of preprocessed
    source is made; one asking it to run a program of the client's choosing is refused."""
    work = tmp_path / "sent"
    (work / "state").mkdir(parents=True)
    (work / "p.i").write_text("int f(int x) { return x + 1; }\n")
    ran = tmp_path / "ran"  # what the wrapper would make (the helper's user may write /tmp)
    env = dict(
        os.environ,
        DISTCC_HOSTS=f"{address}/1",
        DISTCC_SKIP_LOCAL_RETRY="1",
        DISTCC_FALLBACK="0",
        DISTCC_DIR=str(work / "state"),
    )
    os.chmod(tmp_path, 0o777)
    try:
        results = {}
        for label, extra in (("plain", []), ("wrapper", ["-wrapper", f"/bin/touch,{ran}"])):
            results[label] = subprocess.run(
                ns.argv("distcc", name, *extra, "-O2", "-c", "p.i", "-o", f"{label}.o"),
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
    finally:
        os.chmod(tmp_path, 0o700)
    assert results["plain"].returncode == 0 and (work / "plain.o").is_file(), results["plain"]
    assert results["wrapper"].returncode != 0, results["wrapper"]
    assert "-wrapper is not accepted from a client" in results["wrapper"].stderr
    assert not ran.exists() and not (work / "wrapper.o").exists()


def _served(
    accel: str, fmt: Fmt, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[Fmt, Path, tuple[str, ...]]:
    """fmt for ``accel`` (the twins' with their reference objects, the env's twins fetched),
    and the store and ``--env`` words of helpers that serve its compilers."""
    if accel != "twins":
        return fmt, tmp_path, ()
    twins: Fmt = request.getfixturevalue("fmt_twins")
    return twins, twins.env.home, (twins.env.name,)


@pytest.mark.parametrize("accel", ["clang", "twins"])
def test_a_helper_that_dies_mid_build_costs_local_retries_not_the_build(
    netns: Netns, fmt: Fmt, tmp_path: Path, accel: str, request: pytest.FixtureRequest
) -> None:
    """The first helper is killed after the build checked it and configured (its configure
    checks went there too), before the compiles: every compile that tries it fails to
    connect and goes elsewhere. With the twin gcc, both helpers serve the env."""
    fmt, home, serves = _served(accel, fmt, request, tmp_path)
    helpers: list[Helper] = []
    build_dir = _clean(fmt, accel)
    # The build waits, after configuring, for this test to kill the first helper: it is
    # checked and listed, then gone when the compiles start.
    go = build_dir / ".go"
    toml = fmt.src / "armroot.toml"
    original = toml.read_text()
    toml.write_text(
        original.replace(
            'build = ["sh", "-c", "',
            'build = ["sh", "-c", "touch /build/.go; while [ -e /build/.go ]; do sleep 0.2; done; ',
        )
    )
    build: subprocess.Popen[str] | None = None
    try:
        for n in ("one", "two"):
            served = tmp_path / f"{n}.log"
            helpers.append(_serve(netns, home, HELPERS[n], served, f"{NET}.0/24", None, serves))
        build = subprocess.Popen(
            netns.argv(
                sys.executable, "-m", "armroot", "build", "--src", str(fmt.src),
                "--accel", accel, "--no-cache",
                "--distribute", f"{HELPERS['one']},{HELPERS['two']}",
            ),
            env=_environ(fmt.env.home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 900
        while not go.exists():
            assert build.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(helpers[0].distccd(), signal.SIGKILL)  # the helper dies, unannounced
        go.unlink()
        out, _ = build.communicate(timeout=1500)
    finally:
        if build is not None and build.poll() is None:
            build.terminate()  # armroot ends its session (by PID)
            build.communicate(timeout=60)
        toml.write_text(original)
        for helper in helpers:
            _stop(helper)
    assert build.returncode == 0, out[-3000:]
    warned = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    assert warned == [
        f"warning: helper {HELPERS['one']}:3632 stopped answering during the build: "
        "its jobs ran elsewhere"
    ]
    log = (build_dir / "armroot-build.log").read_text()
    assert f"connect to {HELPERS['one']}:3632 failed" in log  # distcc's own line, then elsewhere
    assert "100% tests passed" in log
    assert _objects(build_dir) == fmt.reference


def test_one_changed_source_is_the_one_compile_the_cache_misses(fmt: Fmt, netns: Netns) -> None:
    """From a clean build directory with a warm cache, one source changed: every other
    compile hits, that one misses (and an incremental build then compiles nothing)."""
    _clean(fmt)
    first = _build(netns, fmt.env, fmt.src)  # the cache has every compile now
    assert first.returncode == 0, first.stderr[-3000:]
    source = fmt.src / "test" / "color-test.cc"
    original = source.read_text()
    source.write_text(original + "\nint armroot_changed() { return 1; }\n")
    try:
        _clean(fmt)
        again = _build(netns, fmt.env, fmt.src)
        assert again.returncode == 0, again.stderr[-3000:]
        hits, misses = _cache_line(again)
        assert misses == 1 and hits >= len(fmt.reference) - 1, (hits, misses)
        incremental = _build(netns, fmt.env, fmt.src)
        assert incremental.returncode == 0, incremental.stderr[-3000:]
        assert "compiler cache: no cacheable compiles" in incremental.stderr
    finally:
        source.write_text(original)


@pytest.mark.parametrize("accel", ["clang", "twins"])
def test_distcc_failing_itself_costs_a_compile_here_not_the_build(
    netns: Netns, fmt: Fmt, tmp_path: Path, accel: str, request: pytest.FixtureRequest
) -> None:
    """distcc failing before any compile (here it believes it ran itself: _DISTCC_SAFEGUARD
    in the compile's environment, its exit status 111) costs that compile a native one here,
    by the clang shim or the twin handler, with the bytes of the distributed compile."""
    fmt, home, serves = _served(accel, fmt, request, tmp_path)
    src = tmp_path / "fell"
    src.mkdir()
    (src / "x.cc").write_text("#include <vector>\nint f(std::vector<int>& v) { return v.at(1); }\n")
    (src / "Makefile").write_text(
        "all: sent.o fell.o\n"
        "sent.o: x.cc\n\t$(CXX) -O2 -c x.cc -o $@\n"
        "fell.o: x.cc\n\t_DISTCC_SAFEGUARD=1 $(CXX) -O2 -c x.cc -o $@\n"
    )
    helper = _serve(netns, home, HELPERS["one"], tmp_path / "one.log", f"{NET}.0/24", None, serves)
    try:
        done = _build(netns, fmt.env, src, fmt.env.name, "--no-cache", "--distribute",
                      HELPERS["one"], accel=accel)  # fmt: skip
    finally:
        _stop(helper)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert helper.jobs() == 1, helper.log.read_text()[-3000:]  # sent.o, not fell.o
    assert "distcc seems to have invoked itself recursively" in out, out[-3000:]
    assert "distcc failed, compiling here" in out, out[-3000:]
    assert (src / "fell.o").read_bytes() == (src / "sent.o").read_bytes()


def test_no_helper_reachable_is_one_warning_and_a_local_build(
    netns: Netns, arm64: ArmEnv, tmp_path: Path
) -> None:
    env = arm64
    src = tmp_path / "hello"
    src.mkdir()
    (src / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hi"); }\n')
    (src / "Makefile").write_text("hello: hello.o\n")
    done = _build(netns, env, src, env.name, "--distribute", NOBODY)
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [ln for ln in done.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "no helper can take compiles" in warnings[0], warnings
    assert f"{NOBODY}:3632: unreachable" in warnings[0]


def test_a_client_outside_allow_is_refused_by_the_helper(netns: Netns, tmp_path: Path) -> None:
    log = tmp_path / "strict.log"
    helper = _serve(netns, tmp_path, HELPERS["strict"], log, f"{NET}.200/32")
    try:
        check = subprocess.run(
            netns.argv(sys.executable, "-m", "armroot", "helper", "check", HELPERS["strict"]),
            env=_environ(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        _stop(helper)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "refused a compile" in check.stdout
    assert f"connection from client '{HELPERS['strict']}:" in log.read_text()
    assert "denied by access list" in log.read_text()


def test_a_helper_killed_by_sigkill_leaves_no_distccd_and_no_directory(
    netns: Netns, tmp_path: Path
) -> None:
    log = tmp_path / "killed.log"
    helper = _serve(netns, tmp_path, HELPERS["strict"], log, f"{NET}.0/24")
    try:
        keeper, distccd = helper.keeper(), helper.distccd()
        directory = Path(Path(f"/proc/{keeper}/cmdline").read_bytes().split(b"\0")[3].decode())
        assert directory.name.startswith("armroot-helper-") and directory.is_dir()
        served = _group(distccd)
        assert len(served) >= 2, served  # distccd and its workers
        os.kill(helper.process.pid, signal.SIGKILL)  # armroot itself, unannounced
        helper.process.wait(timeout=30)
        assert wait_for(lambda: not _group(distccd) and not os.path.lexists(f"/proc/{keeper}"))
        assert not directory.exists()
    finally:
        _stop(helper)


def test_a_helper_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    # TMPDIR on a tmpfs with room for two more inodes, in a mount namespace of the test's own.
    script = (
        'mount -t tmpfs -o size=64k,nr_inodes=4 tmpfs "$0" && '
        'TMPDIR="$0" "$@"; status=$?; ls -A "$0"; exit $status'
    )
    full = tmp_path / "full"
    full.mkdir()
    argv = [sys.executable, "-m", "armroot", "helper", "serve", "--port", "39650"]
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(full), *argv],
        env=_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 6, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("armroot: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("armroot: error: No space left on device: ") and lines[0].endswith(
        ": free space there, or point armroot elsewhere"
    ), lines
    assert proc.stdout == ""  # `ls -A` of the tmpfs: the helper's directory was removed
