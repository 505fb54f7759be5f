"""`armroot run` and `armroot shell`: a command inside an environment, in private namespaces."""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from armroot import log
from armroot.errors import UsageError
from armroot.host import qemu as emulation
from armroot.host import userns
from armroot.rootfs import arch as archmod
from armroot.rootfs.paths import resolve_in_root
from armroot.sandbox.apply import describe
from armroot.sandbox.execute import run_session
from armroot.session import cache as quickrun
from armroot.session import inputs as runinputs
from armroot.session.inputs import EnvInputs, RunArgs
from armroot.session.plan import plan
from armroot.store.envs import Env, Store

if TYPE_CHECKING:
    from armroot.accel.target import SessionAccel


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


def env_inputs(env: Env, accel: SessionAccel | None = None) -> EnvInputs:
    """The part of the plan that comes from the env and the host's set-up."""
    return EnvInputs(
        root=str(env.rootfs),
        qemu_cpu=env.meta.qemu_cpu,
        qemu_binds=emulation.qemu_binds(archmod.by_name(env.meta.arch)),
        accel_env=accel.env if accel else (),
        accel_ops=accel.ops if accel else (),
    )


def _quick_path_may_use(options: RunOptions) -> bool:
    """Whether this run's env part is what a plain `armroot run` would plan (so the quick
    path may reuse it): the host's root, no board of its own, no --verbose."""
    plain = not (options.ephemeral or options.capture or options.exclusive_for or options.board)
    verbose = log.VERBOSITY.get() >= log.Verbosity.VERBOSE
    return plain and not verbose and userns.is_host_root()


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
    if os.geteuid() != 0:
        userns.become_root()
    else:
        userns.require_sys_admin()
    store = store or Store()
    env = store.get(options.name)
    # Recorded for the quick path only when planning changed nothing it depends on and
    # had nothing to warn about (a warning the quick path would not repeat).
    record = _quick_path_may_use(options)
    before = quickrun.base_fingerprint(str(env.path), str(env.rootfs)) if record else None
    warned = log.warnings_given()
    accel = _accel(env, options, store) if options.accel else None
    inputs = env_inputs(env, accel)
    args = RunArgs(
        env.name, options.argv, options.binds, options.workdir, options.env, options.host_ca
    )
    spec = plan(runinputs.plan_inputs(inputs, args))
    for op in spec.ops:
        log.debug(f"mount: {describe(op)}")
    log.debug("+ " + shlex.join(spec.argv))
    lock = (
        store.exclusive_lock(env, options.exclusive_for)
        if options.exclusive_for
        else store.session_lock(env)
    )
    with lock, contextlib.ExitStack() as stack:
        if before is not None and log.warnings_given() == warned:
            _record(env, options.accel, before, inputs)
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
    quickrun.check_outcome(outcome, env.name, str(env.rootfs))
    return RunResult(outcome.exit_code, outcome.signal, stdout)


def _record(env: Env, accel: bool, before: tuple[object, ...], inputs: EnvInputs) -> None:
    """Keep the env's part of the plan for the quick path, if nothing it depends on changed
    while it was made (the first run in an env discovers its compilers, and saves them)."""
    if quickrun.base_fingerprint(str(env.path), str(env.rootfs)) != before:
        return
    try:
        quickrun.save(str(env.path), accel, before, inputs)
    except OSError as exc:
        log.debug(f"the quick path's record for '{env.name}' was not written: {exc}")


def shell_argv(env: Env) -> tuple[str, ...]:
    bash = resolve_in_root(env.rootfs, "/bin/bash")
    return ("/bin/bash", "-l") if bash.is_file() else ("/bin/sh", "-l")


def shell(name: str, options: RunOptions | None = None, store: Store | None = None) -> RunResult:
    store = store or Store()
    env = store.get(name)
    base = options or RunOptions(name=name, argv=())
    return run(base._replace(name=name, argv=shell_argv(env)), store)
