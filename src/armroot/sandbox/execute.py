"""Run a command in a root inside private mount and PID namespaces.
Light (see :mod:`armroot.session`).

Process tree::

    armroot (host namespaces)          supervises, forwards signals, holds the env lock
      └─ helper   unshare(NEWNS|NEWPID), dies with armroot (PDEATHSIG)
           └─ init   PID 1 of the new PID namespace: mounts, chroot, reaps, forwards signals
                └─ command   exec'd with a clean signal mask

When init exits the kernel kills every process left in the PID namespace; when the last
process of the mount namespace is gone every mount in it goes too. A SIGKILL of armroot
takes the helper down (PDEATHSIG), which takes init down, which takes the rest: no teardown
code has to run for the host to be clean.
"""

from __future__ import annotations

import io
import marshal
import os
import sys

# os.execvpe imports `warnings` when it runs, and it runs after chroot, where Python's own
# library is out of reach: imported here, before.
import warnings as _warnings  # noqa: F401

from armroot.host import syscalls as sc
from armroot.sandbox import apply
from armroot.sandbox.ops import Binfmt, MountOp
from armroot.sandbox.own_userns import map_ids
from armroot.tuples import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from typing import Any

    from armroot.sandbox.ops import SessionSpec
else:  # the C module under `signal`, without the enum wrappers (enum costs `armroot run` ~5 ms)
    import _signal as signal

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGCONT,
)
WATCHED = (*FORWARDED, signal.SIGCHLD)
SI_KERNEL = 0x80  # si_code of signals the kernel itself sends (a terminal's ^C, ^\\, hangup)

EXIT_SETUP_FAILED = 125
EXIT_EXEC_FAILED = 127


class Outcome(NamedTuple):
    """How the session ended."""

    exit_code: int  # the command's exit status, or 128+signal when a signal killed it
    signal: int | None  # the signal that killed the command, if one did
    setup_error: str | None = None  # why the session could not start
    exec_error: str | None = None  # why the command could not be executed
    warnings: tuple[str, ...] = ()  # what the session set up only in part


def _noop(signum: int, frame: object) -> None:
    del signum, frame


def _block_watched() -> set[int]:
    for sig in WATCHED:
        signal.signal(sig, _noop)
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED))


def _supervise(child: int, reap_all: bool) -> int:
    """Wait for ``child``, forwarding signals to it; return its raw wait status.

    Signals a terminal sends reach the whole foreground process group, the command included,
    so only signals someone sent with kill(2) are forwarded.
    """
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1 if reap_all else child, os.WNOHANG)
            except ChildProcessError:
                return 0
            if pid == 0:
                break
            if pid == child:
                return status
        info = signal.sigwaitinfo(WATCHED)
        if info.si_signo == signal.SIGCHLD:
            continue
        if info.si_code == SI_KERNEL:
            continue
        try:  # noqa: SIM105 - as in _report
            os.kill(child, info.si_signo)
        except ProcessLookupError:
            pass


def _status_to_code(status: int) -> tuple[int, int | None]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.waitstatus_to_exitcode(status), None


def _report(pipe_w: int, kind: str, message: str) -> None:
    """One message to the supervising armroot: a marshalled (kind, text) pair, one write(2)."""
    try:  # noqa: SIM105 - contextlib is not light (armroot.session)
        os.write(pipe_w, marshal.dumps((kind, message)))
    except OSError:
        pass


def _exec_command(spec: SessionSpec, pipe_w: int) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in WATCHED:
        signal.signal(sig, signal.SIG_DFL)
    env = dict(spec.env)
    if spec.stdout_fd is not None:
        os.dup2(spec.stdout_fd, 1)
    try:
        os.execvpe(spec.argv[0], list(spec.argv), env)
    except OSError as exc:
        _report(pipe_w, "exec", f"{spec.argv[0]}: {exc.strerror}")
    os._exit(EXIT_EXEC_FAILED)


def _init(spec: SessionSpec, pipe_w: int, alive_r: int, sync: tuple[int, int] | None) -> None:
    """PID 1 of the session: mount, chroot, run the command, pass on how it ended. With
    ``sync`` (a user namespace of the session's own) the ops that need it (binfmt_misc)
    come after it is entered."""
    sc.die_with_parent(alive_fd=alive_r)
    os.close(alive_r)
    try:
        root = spec.root
        apply.isolate_from_host()
        if spec.ephemeral_scratch:
            root = apply.make_ephemeral_root(root, spec.ephemeral_scratch)
        else:
            apply.make_root_mount(root)
        ops: tuple[MountOp, ...] = spec.ops
        own: tuple[MountOp, ...] = ()
        if sync is not None:
            ops = tuple(op for op in spec.ops if not isinstance(op, Binfmt))
            own = tuple(op for op in spec.ops if isinstance(op, Binfmt))
        for warning in apply.apply_all(root, ops):
            _report(pipe_w, "warning", warning)
        if sync is not None:
            _own_user_namespace(sync)
            apply.apply_all(root, own)
        os.chroot(root)
        try:
            os.chdir(spec.workdir)
        except OSError as exc:
            raise apply.SetupError(
                f"working directory {spec.workdir} is not usable inside the root: {exc.strerror}"
            ) from exc
    except apply.SetupError as exc:
        _report(pipe_w, "setup", str(exc))
        os._exit(EXIT_SETUP_FAILED)
    except OSError as exc:
        _report(pipe_w, "setup", f"{exc.strerror or exc} ({exc.filename or 'session setup'})")
        os._exit(EXIT_SETUP_FAILED)
    except Exception as exc:  # a bug: still one line to the user, never a traceback
        _report(pipe_w, "setup", f"{type(exc).__name__}: {exc}")
        os._exit(EXIT_SETUP_FAILED)
    me = os.getpid()
    command = os.fork()
    if command == 0:
        sc.die_with_parent(me)
        _exec_command(spec, pipe_w)
    status = _supervise(command, reap_all=True)
    code, sig = _status_to_code(status)
    if sig is not None:
        _report(pipe_w, "signal", str(sig))
    os._exit(code)


def _own_user_namespace(sync: tuple[int, int]) -> None:
    """unshare(CLONE_NEWUSER), wait for the helper to map the ids, then a mount namespace
    of the new user namespace's own (for its binfmt_misc). The mounts made so far were
    made outside it, so they keep what only the outer namespace may set up (an overlay's
    directory renames: dpkg needs them on an --ephemeral root)."""
    ready_w, mapped_r = sync
    try:
        sc.unshare(sc.CLONE_NEWUSER)
    except OSError as exc:
        raise apply.SetupError(f"cannot create a user namespace: {exc.strerror}") from exc
    os.write(ready_w, b"u")
    os.close(ready_w)
    if os.read(mapped_r, 1) != b"m":
        raise apply.SetupError("the session's user namespace was given no ids")
    os.close(mapped_r)
    sc.unshare(sc.CLONE_NEWNS)


def _give_ids(init: int, ready_r: int, mapped_w: int) -> None:
    """Wait for init's user namespace, map its ids, let it go on. If mapping fails init
    reads end-of-file and reports; the session ends there."""
    try:
        if os.read(ready_r, 1) == b"u":
            try:
                map_ids(init)
                os.write(mapped_w, b"m")
            except OSError:
                pass
    finally:
        os.close(ready_r)
        os.close(mapped_w)


def _helper(spec: SessionSpec, pipe_w: int, parent: int) -> None:
    sc.die_with_parent(parent)
    try:
        sc.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWPID)
    except OSError as exc:
        _report(pipe_w, "setup", f"cannot create private namespaces: {exc.strerror}")
        os._exit(EXIT_SETUP_FAILED)
    alive_r, alive_w = os.pipe2(os.O_CLOEXEC)
    ready = os.pipe2(os.O_CLOEXEC) if spec.user_namespace else None
    mapped = os.pipe2(os.O_CLOEXEC) if spec.user_namespace else None
    init = os.fork()
    if init == 0:
        os.close(alive_w)
        sync = None
        if ready and mapped:
            os.close(ready[0])
            os.close(mapped[1])
            sync = (ready[1], mapped[0])
        _init(spec, pipe_w, alive_r, sync)
    os.close(alive_r)
    if ready and mapped:
        os.close(ready[1])
        os.close(mapped[0])
        _give_ids(init, ready[0], mapped[1])
    status = _supervise(init, reap_all=False)
    code, _ = _status_to_code(status)
    os._exit(code)


def _child_main(fn: Callable[..., None], *args: Any) -> None:
    """Run ``fn`` in a forked child; never return into the parent's code."""
    try:
        fn(*args)
    except BaseException as exc:
        # A bug. After chroot Python's library may be out of reach: no traceback module then.
        try:
            import traceback

            traceback.print_exc(file=sys.stderr)
        except ImportError:
            sys.stderr.write(f"armroot: internal error: {type(exc).__name__}: {exc}\n")
        os._exit(EXIT_SETUP_FAILED)
    os._exit(EXIT_SETUP_FAILED)


def execute(spec: SessionSpec) -> Outcome:
    """Run ``spec`` to completion; returns how the command ended."""
    pipe_r, pipe_w = os.pipe2(os.O_CLOEXEC)
    old_handlers = {sig: signal.getsignal(sig) for sig in WATCHED}
    old_mask = _block_watched()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    try:
        helper = os.fork()
        if helper == 0:
            os.close(pipe_r)
            _child_main(_helper, spec, pipe_w, parent)
        os.close(pipe_w)
        status = _supervise(helper, reap_all=False)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for watched, handler in old_handlers.items():
            signal.signal(watched, handler if handler is not None else signal.SIG_DFL)
    messages: dict[str, str] = {}
    warnings: list[str] = []
    with os.fdopen(pipe_r, "rb") as reader:
        received = io.BytesIO(reader.read())
    while True:
        try:
            kind, text = marshal.load(received)
        except (EOFError, ValueError, TypeError):
            break
        if kind == "warning":
            warnings.append(text)
        messages[kind] = text
    code, killed_by = _status_to_code(status)
    if "signal" in messages:
        killed_by = int(messages["signal"])
    return Outcome(code, killed_by, messages.get("setup"), messages.get("exec"), tuple(warnings))
