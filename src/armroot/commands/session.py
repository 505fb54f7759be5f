"""`armroot run` and `armroot shell`: a command inside an environment, in private namespaces."""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from armroot import arch as archmod
from armroot import emulation, log
from armroot.errors import ExternalCommandError, HostError, SandboxError, UsageError
from armroot.paths import resolve_in_root
from armroot.sandbox.apply import describe
from armroot.sandbox.session import run_session
from armroot.sessionplan import PlanInputs, UserBind, plan
from armroot.store import Env, Store

if TYPE_CHECKING:
    from armroot.accel.target import SessionAccel

HOST_CA_CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
)
RESERVED_TARGETS = ("/", "/proc", "/sys", "/dev")


class RunOptions(NamedTuple):
    name: str
    argv: tuple[str, ...]
    binds: tuple[str, ...] = ()  # SRC[:DST]
    workdir: str | None = None
    env: tuple[str, ...] = ()  # K=V
    host_ca: bool = False
    ephemeral: bool = False  # changes to the root vanish when the command ends
    capture: bool = False  # collect the command's stdout into RunResult.stdout
    exclusive_for: str | None = None  # hold the env's lock exclusively, for this purpose
    accel: bool = True  # native compilers first on PATH (armroot.accel), where available
    board: str | None = None  # the board the native compilers target (default: the env's)


class RunResult(NamedTuple):
    exit_code: int
    signal: int | None
    stdout: str = ""


def parse_bind(text: str) -> UserBind:
    """``SRC[:DST]`` -> UserBind; SRC must exist on the host, DST is a path inside the root."""
    source, sep, target = text.partition(":")
    if not source:
        raise UsageError(f"--bind {text!r}: no source path", "use --bind SRC[:DST]")
    src = Path(source).expanduser()
    if not src.exists():
        raise UsageError(
            f"--bind {text!r}: {source} does not exist on this machine",
            "create it first, or fix the path",
        )
    real = os.path.realpath(src)
    dst = target if sep else str(src.absolute())
    if not dst.startswith("/"):
        raise UsageError(
            f"--bind {text!r}: the target {dst!r} must be an absolute path",
            "use --bind SRC:/path/inside/root",
        )
    if os.path.normpath(dst) in RESERVED_TARGETS:
        raise UsageError(
            f"--bind {text!r}: cannot bind over {os.path.normpath(dst)}",
            "choose another target path inside the root",
        )
    return UserBind(real, os.path.normpath(dst))


def parse_env(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or "\0" in item:
            raise UsageError(f"--env {item!r} is not KEY=VALUE", "write it as --env NAME=value")
        pairs.append((key, value))
    return tuple(pairs)


def host_ca_bundle() -> str:
    """The host's combined CA bundle (what the host itself trusts)."""
    candidates = [os.environ.get("SSL_CERT_FILE", ""), *HOST_CA_CANDIDATES]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return os.path.realpath(candidate)
    raise HostError(
        "--host-ca: no CA bundle found on this machine",
        "install ca-certificates on the host, or set SSL_CERT_FILE to your bundle",
    )


def _host_file(path: str) -> str | None:
    return os.path.realpath(path) if os.path.isfile(path) else None


def _stdin_terminal() -> str | None:
    try:
        return os.ttyname(0) if os.isatty(0) else None
    except OSError:
        return None


def plan_inputs(env: Env, options: RunOptions, accel: SessionAccel | None = None) -> PlanInputs:
    arch = archmod.by_name(env.meta.arch)
    workdir = options.workdir
    if workdir is None:
        workdir = "/root" if resolve_in_root(env.rootfs, "/root").is_dir() else "/"
    elif not workdir.startswith("/"):
        raise UsageError(
            f"--workdir {workdir!r} must be an absolute path inside the root",
            "for example --workdir /src",
        )
    return PlanInputs(
        root=str(env.rootfs),
        argv=options.argv,
        workdir=workdir,
        qemu_cpu=env.meta.qemu_cpu,
        qemu_binds=emulation.qemu_binds(arch),
        host_resolv_conf=_host_file("/etc/resolv.conf"),
        host_hosts=_host_file("/etc/hosts"),
        host_ca_bundle=host_ca_bundle() if options.host_ca else None,
        binds=tuple(parse_bind(b) for b in options.binds),
        env=(*(accel.env if accel else ()), *parse_env(options.env), ("ARMROOT_ENV", env.name)),
        term=os.environ.get("TERM"),
        console=_stdin_terminal(),
        extra_ops=accel.ops if accel else (),
    )


def _accel(env: Env, options: RunOptions, store: Store) -> SessionAccel | None:
    from armroot.accel import setup
    from armroot.accel.target import ProbeError

    def probe(script: str) -> str:
        # On an overlay: reading what gcc targets must not write a byte into the env (the
        # session it serves may be an --ephemeral one).
        argv = ("sh", "-c", script)
        probed = run(RunOptions(env.name, argv, capture=True, accel=False, ephemeral=True), store)
        if probed.exit_code != 0:
            raise ProbeError(f"its gcc did not answer (exit status {probed.exit_code})")
        return probed.stdout

    return setup.for_session(env, store, options.board or env.meta.board, probe)


def run(options: RunOptions, store: Store | None = None) -> RunResult:
    """Run ``options.argv`` in the environment; its exit status is the result's."""
    if not options.argv:
        raise UsageError(
            "no command given", "write the command after --, e.g. armroot run pi -- uname -m"
        )
    from armroot import userns

    if os.geteuid() != 0:
        userns.become_root()
    else:
        userns.require_sys_admin()
    store = store or Store()
    env = store.get(options.name)
    accel = _accel(env, options, store) if options.accel else None
    spec = plan(plan_inputs(env, options, accel))
    for op in spec.ops:
        log.debug(f"mount: {describe(op)}")
    log.debug("+ " + shlex.join(spec.argv))
    lock = (
        store.exclusive_lock(env, options.exclusive_for)
        if options.exclusive_for
        else store.session_lock(env)
    )
    with lock, contextlib.ExitStack() as stack:
        if options.ephemeral or options.capture:
            import tempfile  # not on the plain `run` path: it pulls in shutil, random, ...
        if options.ephemeral:
            scratch = Path(tempfile.mkdtemp(prefix=".ephemeral-", dir=env.path))
            stack.callback(os.rmdir, scratch)
            spec = spec._replace(ephemeral_scratch=str(scratch))
        captured = stack.enter_context(tempfile.TemporaryFile()) if options.capture else None
        if captured is not None:
            spec = spec._replace(stdout_fd=captured.fileno())
        outcome = run_session(spec)
        stdout = ""
        if captured is not None:
            captured.seek(0)
            stdout = captured.read().decode("utf-8", "replace")
    for warning in outcome.warnings:
        log.warn(warning)
    if outcome.setup_error:
        hint = "run with --verbose for the mount plan; report it if it persists"
        if str(env.rootfs) in outcome.setup_error:
            # The root itself has an odd shape (a file or a link where a mount point goes):
            # armroot refuses to change the env's files to make the session fit.
            hint = (
                f"that path is in the env's own root ({env.rootfs}): make it what a Linux "
                "root has there (a directory), or create the env again"
            )
        raise SandboxError(
            f"could not set up the session in '{env.name}': {outcome.setup_error}", hint
        )
    if outcome.exec_error:
        error = ExternalCommandError(
            f"cannot run {outcome.exec_error} inside '{env.name}'",
            f"install it in the root, or check the name (armroot run {env.name} -- ls /usr/bin)",
        )
        error.exit_code = 127
        raise error
    return RunResult(outcome.exit_code, outcome.signal, stdout)


def shell_argv(env: Env) -> tuple[str, ...]:
    bash = resolve_in_root(env.rootfs, "/bin/bash")
    return ("/bin/bash", "-l") if bash.is_file() else ("/bin/sh", "-l")


def shell(name: str, options: RunOptions | None = None, store: Store | None = None) -> RunResult:
    store = store or Store()
    env = store.get(name)
    base = options or RunOptions(name=name, argv=())
    return run(base._replace(name=name, argv=shell_argv(env)), store)
