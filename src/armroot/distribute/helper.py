"""`armroot helper serve` and `armroot helper check`: distccd with exactly armroot's native
compilers, and asking a helper whether it has the compilers a build needs.

A helper runs the distribution's distccd in the foreground, its log on stderr, with a
command list (DISTCC_CMDLIST) that names only armroot's compilers:
``armroot-clang-<digest of zig>`` (:func:`armroot.accel.toolchain.distributed_name`),
armroot's shim answering as the bare ``zig clang`` of this machine's pinned zig; and with
``--env NAME``, that env's twin gcc and g++ (:mod:`armroot.twins.distributed`),
fetched as a session there would fetch them. distccd serves nothing else, and refuses a
client whose address is outside ``--allow`` (distccd has no authentication of its own: see
docs/distribute.md for SSH and private networks).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

from armroot import log
from armroot.accel import shim, toolchain
from armroot.distribute import twin_layout
from armroot.distribute.hosts import Host, local_jobs
from armroot.errors import HostError, UsageError
from armroot.host.syscalls import die_with_parent
from armroot.store.envs import cache_home
from armroot.twins import distributed as twin_compilers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.twins.prepare import TwinSet

DISTCC_HINT = "install the distribution's distcc (apt install distcc)"
CONNECT_TIMEOUT = 3.0
PROBE_TIMEOUT = 30  # seconds a helper has to compile the probe
PROBE = "int armroot_probe(int x) { return x * 42; }\n"


class Compiler(NamedTuple):
    name: str  # what clients call it
    zig: str
    shim: str


class Probe(NamedTuple):
    """A compile a client sends a helper alone, to know it has a compiler: the native clang
    preprocesses here (its probe is C source), a twin's is sent preprocessed."""

    name: str  # the compiler's name on helpers
    source: str  # probe.c, probe.i, probe.ii
    flags: tuple[str, ...] = ()
    twin: bool = False


def clang_probe(compiler: Compiler) -> Probe:
    return Probe(compiler.name, "probe.c", ("--target=aarch64-linux-gnu",))


def twin_probe(name: str, language: str) -> Probe:
    return Probe(name, "probe.ii" if language == "c++" else "probe.i", twin=True)


def local_compiler() -> Compiler:
    """This machine's armroot clang, by the name helpers know it by."""
    try:
        tools = toolchain.prepare(cache_home())
    except toolchain.Unavailable as exc:
        raise HostError(exc.message, exc.hint) from None
    name = toolchain.distributed_name(toolchain.zig_digest(tools.zig, cache_home()))
    return Compiler(name, tools.zig, tools.shim)


def _program(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.isfile(f"/usr/bin/{name}") else "")
    if not found:
        raise HostError(f"this machine has no {name}", DISTCC_HINT)
    return found


def networks(allow: tuple[str, ...]) -> tuple[str, ...]:
    """--allow NET... as distccd takes them (ADDRESS/BITS); a bad one is one line."""
    found: list[str] = []
    for text in allow:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise UsageError(
                f"--allow {text!r} is not an address or network",
                "write it as 192.168.1.0/24, 10.0.0.5 or 127.0.0.1",
            ) from None
        if net.version != 4:
            raise UsageError(f"--allow {text!r}: distccd allows IPv4 networks only", "")
        found.append(str(net))
    return tuple(found)


def _reachable_by_others(path: str) -> None:
    """distccd started as root serves as nobody: it must be able to run ``path``."""
    current = Path(path)
    for part in (current, *current.parents):
        mode = part.stat().st_mode
        need = 0o005 if part == current else 0o001
        if mode & need != need:
            raise HostError(
                f"as root, distccd serves as an unprivileged user, which cannot reach {path} "
                f"({part} is mode {mode & 0o777:o})",
                "run `armroot helper serve` as an ordinary user, or install armroot where "
                "every user can read it",
            )


class Twins(NamedTuple):
    """An env's twin compilers a helper serves."""

    env: str
    twin_set: TwinSet
    compilers: tuple[twin_compilers.TwinCompiler, ...]


def env_twins(name: str) -> Twins:
    """The twin compilers of the env ``name`` of this machine (fetched into the cache as a
    session would); one line if it has none."""
    from armroot.accel import setup
    from armroot.store.envs import Store

    env = Store().get(name)
    found = setup.twin_set(env)
    compilers = twin_compilers.of(found) if found is not None else ()
    if found is None or not compilers:
        if found is None:
            why = setup.twins_unavailable(env) or "see the warning above"
        elif not found.compiler:
            why = "its gcc has no twin of the same version in its archive"
        else:
            why = "its gcc's cc1 or assembler has no twin"
        raise UsageError(
            f"--env {name}: no twin compilers to serve ({why})",
            "serve its builds' native clang without --env, or give an env with twins",
        )
    return Twins(name, found, compilers)


def _distinct(twins: tuple[Twins, ...]) -> tuple[Twins, ...]:
    """Each compiler once: envs of the same packages have the same twin compilers."""
    seen: set[str] = set()
    found = []
    for t in twins:
        new = tuple(c for c in t.compilers if c.name not in seen)
        seen.update(c.name for c in new)
        if new:
            found.append(t._replace(compilers=new))
    return tuple(found)


def _layout(directory: Path, compiler: Compiler, twins: tuple[Twins, ...] = ()) -> dict[str, str]:
    """The helper's directory: the compilers' names (the shim; the twins' scripts), the
    shim's configuration, distccd's command list; the environment that points at them."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    # A copy: the shim's cache may be where distccd's own user cannot reach (6 KB).
    shutil.copyfile(compiler.shim, bin_dir / compiler.name)
    os.chmod(bin_dir / compiler.name, 0o755)
    config = directory / "config"
    config.write_text(shim.helper_config(compiler.zig, compiler.name))
    served = [str(bin_dir / compiler.name)]
    for t in twins:
        served += twin_layout.lay_out(directory, t.twin_set, t.compilers, cache_home() / "twins")
    cmdlist = directory / "cmdlist"
    cmdlist.write_text("".join(f"{s}\n" for s in served))
    tmp = directory / "tmp"
    tmp.mkdir()
    os.chmod(tmp, 0o1777)  # distccd started as root writes here as nobody
    for path in (directory, bin_dir):
        os.chmod(path, 0o755)  # distccd started as root serves as the distcc user
    for path in (config, cmdlist):
        os.chmod(path, 0o644)
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "DISTCC_CMDLIST": str(cmdlist),
        "DISTCC_CMDLIST_NUMWORDS": "1",
        "ARMROOT_SHIM_CONFIG": str(config),
        "LANG": "C.UTF-8",
        # distcc's and distccd's temporary files, removed with the directory whatever ends them
        "TMPDIR": str(tmp),
    }


# $0: the helper's directory; "$@": distccd. Ends it (SIGTERM: distccd's parent stops its
# children) and removes the directory however the shell is told to stop.
_KEEPER = """
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; rm -rf --one-file-system -- "$0"; exit 143' \\
  TERM INT HUP
"$@" & pid=$!
wait "$pid"; status=$?
rm -rf --one-file-system -- "$0"
exit "$status"
"""


def serve(
    allow: tuple[str, ...],
    listen: str | None,
    port: int,
    jobs: int | None,
    envs: tuple[str, ...] = (),
) -> int:
    """Run distccd in the foreground until it ends or armroot is stopped; its exit status.
    It serves the native clang, and the twin compilers of each env of ``envs``."""
    nets = networks(allow)
    if not nets:
        nets = ("127.0.0.1/32",)
        log.info("no --allow: only this machine (127.0.0.1) may send compiles")
    if listen is None:
        listen = "127.0.0.1" if nets == ("127.0.0.1/32",) else "0.0.0.0"
    try:
        ipaddress.IPv4Address(listen)
    except ValueError:
        raise UsageError(f"--listen {listen!r} is not an IPv4 address", "") from None
    if not 0 < port < 65535:
        raise UsageError(f"--port {port} is out of range", "the statistics take the next port")
    if jobs is not None and not 0 < jobs <= 1024:
        raise UsageError(f"--jobs {jobs} is out of range", "give 1 to 1024 compiles at once")
    jobs = jobs or local_jobs()
    distccd = _program("distccd")
    compiler = local_compiler()
    if os.geteuid() == 0:
        _reachable_by_others(compiler.zig)
    twins = _distinct(tuple(env_twins(name) for name in dict.fromkeys(envs)))
    # In the temporary directory: distccd started as root serves as its own user, which
    # must reach the compiler (the cache home may be private).
    directory = Path(tempfile.mkdtemp(prefix="armroot-helper-"))
    try:
        env = _layout(directory, compiler, twins)
        argv = [distccd, "--no-detach", "--daemon", "--log-stderr", "--log-level", "notice"]
        argv += ["--listen", listen, "--port", str(port), "--jobs", str(jobs)]
        argv += ["--stats", "--stats-port", str(port + 1)]
        for net in nets:
            argv += ["--allow", net]
        for t in twins:
            names = ", ".join(f"{c.name} ({c.shown})" for c in t.compilers)
            log.info(f"armroot helper: twin compilers of '{t.env}': {names}")
        log.info(
            f"armroot helper: {compiler.name} (zig {compiler.zig}) on {listen}:{port}, "
            f"{jobs} jobs, for {', '.join(nets)}; statistics on port {port + 1}"
        )
        # Its own session: distccd's parent signals its whole process group when it ends.
        # Under a shell that takes distccd and the directory down when armroot goes, even
        # by SIGKILL (the shell's parent-death signal, then its trap).
        keeper = ["/bin/sh", "-c", _KEEPER, str(directory), *argv]
        parent = os.getpid()
        child = subprocess.Popen(
            keeper,
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: die_with_parent(parent, sig=signal.SIGTERM),
        )
        try:
            return child.wait()
        finally:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, 9)
                    child.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Check(NamedTuple):
    host: Host
    reachable: bool
    has_compiler: bool = False
    jobs: int | None = None  # distccd's own limit, from its statistics
    why: str = ""
    refused: Probe | None = None  # the compile it refused

    def line(self, names: str) -> str:
        if not self.reachable:
            return f"{self.host.label}: unreachable ({self.why})"
        if not self.has_compiler:
            if self.refused is not None and self.refused.twin:
                because = (
                    "it serves no env with these twins (armroot helper serve --env ENV), its "
                    "env's twins are other versions, or its --allow leaves this machine out"
                )
            else:
                because = "its zig is another build, or its --allow leaves this machine out"
            name = self.refused.name if self.refused is not None else names
            return f"{self.host.label}: refused a compile for {name} ({because}): {self.why}"
        jobs = f"{self.jobs} jobs" if self.jobs else "jobs unknown"
        return f"{self.host.label}: ready, {names}, {jobs}"


def _stats_jobs(host: Host) -> int | None:
    """distccd's job limit (dcc_max_kids) from its statistics port, if it answers."""
    try:
        with socket.create_connection((host.address, host.port + 1), CONNECT_TIMEOUT) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(CONNECT_TIMEOUT)
            data = b""
            while len(data) < 8192:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("dcc_max_kids "):
            value = line.split()[1]
            return int(value) if value.isdigit() and int(value) > 0 else None
    return None


def answers(host: Host) -> bool:
    """Whether the helper still accepts connections (its statistics port, else its own)."""
    for port in (host.port + 1, host.port):
        try:
            socket.create_connection((host.address, port), CONNECT_TIMEOUT).close()
            return True
        except OSError:
            continue
    return False


def check(host: Host, probes: tuple[Probe, ...], compiler: Compiler) -> Check:
    """Whether ``host`` takes compiles for every compiler of ``probes``: it answers, and a
    real compile sent there alone (no local retry) succeeds for each. ``compiler`` is this
    machine's clang (it preprocesses its probe)."""
    jobs = _stats_jobs(host)  # an armroot helper answers there: nothing in distccd's log
    if jobs is None:
        try:
            socket.create_connection((host.address, host.port), CONNECT_TIMEOUT).close()
        except OSError as exc:
            return Check(host, False, why=exc.strerror or str(exc))
    distcc = _program("distcc")
    with tempfile.TemporaryDirectory(prefix="armroot-check-") as work:
        directory = Path(work)
        (directory / "h").mkdir()
        env = _layout(directory / "h", compiler)
        (directory / "state").mkdir()
        env.update(
            DISTCC_HOSTS=host.spec(1),
            DISTCC_SKIP_LOCAL_RETRY="1",
            DISTCC_FALLBACK="0",
            DISTCC_DIR=str(directory / "state"),
        )
        for name in ("DISTCC_CMDLIST", "DISTCC_CMDLIST_NUMWORDS"):
            env.pop(name)
        env["DISTCC_IO_TIMEOUT"] = str(PROBE_TIMEOUT)
        for probe in probes:
            why = _probe(distcc, probe, directory, env)
            if why:
                return Check(host, True, why=why, refused=probe)
    return Check(host, True, True, jobs)


def _probe(distcc: str, probe: Probe, directory: Path, env: dict[str, str]) -> str:
    """Send ``probe`` alone; why it failed, or "" when the helper compiled it."""
    (directory / probe.source).write_text(PROBE)
    output = directory / "probe.o"
    output.unlink(missing_ok=True)
    argv = [distcc, probe.name, *probe.flags, "-O2", "-c", probe.source, "-o", output.name]
    try:
        done = subprocess.run(
            argv,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT + 10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"no answer to a compile in {PROBE_TIMEOUT} s"
    if done.returncode != 0 or not output.is_file():
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit {done.returncode}"
    return ""
