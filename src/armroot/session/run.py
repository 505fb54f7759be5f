"""One session, from request to outcome: `armroot run`, `shell`, and every session armroot
runs for itself (package changes, builds, probes).

    run(request): check the request -> open the env's lock -> the env's part of the plan
      from the cache (shared lock held, fingerprint unchanged), or else planned afresh by
      :mod:`armroot.session.planning` (the store and the native toolchain, imported only
      then) and saved for the next session -> the request's part -> plan -> the sandbox
      executes it (on an overlay with ``ephemeral``, stdout kept with ``capture``)

Light (see :mod:`armroot.session`): the launcher calls this for the plain forms of `run`.
"""

from __future__ import annotations

import os

from armroot import log
from armroot.errors import ArmrootError, ExternalCommandError, SandboxError, UsageError
from armroot.host import privileges
from armroot.session import cache
from armroot.session.inputs import plan_inputs, shell_argv
from armroot.session.plan import plan
from armroot.session.request import Request, Result
from armroot.store import home
from armroot.store import lock as envlock
from armroot.store.names import check_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.sandbox.execute import Outcome
    from armroot.sandbox.ops import SessionSpec


def _verbose() -> bool:
    return log.VERBOSITY.get() >= log.Verbosity.VERBOSE


def run(request: Request) -> Result:
    """Run ``request.argv`` in the env; its exit status is the result's."""
    if not request.argv:
        raise UsageError(
            "no command given", "write the command after --, e.g. armroot run pi -- uname -m"
        )
    check_name(request.name)
    if privileges.is_host_root():
        privileges.require_sys_admin()
    env_dir = home.env_dir(request.name, privileges.is_host_root())
    try:
        fd = envlock.open_lock(env_dir, create=False)
    except OSError:
        _env_not_found(request.name)  # raises, unless the env is there without a lock file
        fd = envlock.open_lock(env_dir)
    try:
        inputs = None
        if cache.usable_for(request) and envlock.try_shared(fd):
            inputs = cache.load(env_dir, request.accel)
            if inputs is None:
                envlock.release(fd)  # planning below may run sessions of its own (gcc's probe)
        if inputs is None:
            from armroot.session import planning

            inputs = planning.env_inputs(request, env_dir, fd)
        spec = plan(plan_inputs(inputs, request))
        if _verbose():
            _show(spec)
        outcome, stdout = _execute(spec, request, env_dir)
    finally:
        os.close(fd)
    for warning in outcome.warnings:
        log.warn(warning)
    check_outcome(outcome, request.name, inputs.root)
    return Result(outcome.exit_code, outcome.signal, stdout)


def shell(request: Request) -> Result:
    """A login shell in the env (the request's argv is replaced)."""
    check_name(request.name)
    root = os.path.join(home.env_dir(request.name, privileges.is_host_root()), home.ROOTFS_DIR)
    return run(request._replace(argv=shell_argv(root)))


def _env_not_found(name: str) -> None:
    """Raise what the store says of an env that is not there (or cannot be read)."""
    from armroot.store.envs import Store

    Store().get(name)


def _show(spec: SessionSpec) -> None:
    import shlex

    from armroot.sandbox.apply import describe

    for op in spec.ops:
        log.debug(f"mount: {describe(op)}")
    log.debug("+ " + shlex.join(spec.argv))


def _execute(spec: SessionSpec, request: Request, env_dir: str) -> tuple[Outcome, str]:
    """The sandbox runs ``spec``; ``ephemeral`` puts an overlay on the root (scratch in the
    env's directory, removed afterwards), ``capture`` keeps the command's stdout."""
    from armroot.sandbox.execute import execute

    if not (request.ephemeral or request.capture):
        return execute(spec), ""
    import tempfile  # not on the plain `run` path: it pulls in shutil, random, ...

    scratch = tempfile.mkdtemp(prefix=".ephemeral-", dir=env_dir) if request.ephemeral else None
    try:
        if scratch is not None:
            spec = spec._replace(ephemeral_scratch=scratch)
        if not request.capture:
            return execute(spec), ""
        with tempfile.TemporaryFile() as captured:
            outcome = execute(spec._replace(stdout_fd=captured.fileno()))
            captured.seek(0)
            return outcome, captured.read().decode("utf-8", "replace")
    finally:
        if scratch is not None:
            os.rmdir(scratch)


def check_outcome(outcome: Outcome, name: str, rootfs: str) -> None:
    """Raise what a session that could not run its command means for the user."""
    if outcome.setup_error:
        hint = "run with --verbose for the mount plan; report it if it persists"
        if rootfs in outcome.setup_error:
            # The root itself has an odd shape (a file or a link where a mount point goes):
            # armroot refuses to change the env's files to make the session fit.
            hint = (
                f"that path is in the env's own root ({rootfs}): make it what a Linux "
                "root has there (a directory), or create the env again"
            )
        raise SandboxError(f"could not set up the session in '{name}': {outcome.setup_error}", hint)
    if outcome.exec_error:
        error = ExternalCommandError(
            f"cannot run {outcome.exec_error} inside '{name}'",
            f"install it in the root, or check the name (armroot run {name} -- ls /usr/bin)",
        )
        error.exit_code = 127
        raise error


def main(request: Request) -> int:
    """:func:`run` for the launcher: the exit status, an error as its one line."""
    try:
        return run(request).exit_code
    except ArmrootError as exc:
        log.error(exc.one_line())
        return exc.exit_code
