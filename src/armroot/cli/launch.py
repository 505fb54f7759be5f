"""The `armroot` console script: the plain forms of `run` and `shell` go straight to the
session (no argparse, no rendering code), everything else to :mod:`armroot.cli.main`.

Also the rules every verb shares, whichever way it was parsed: entering the user
namespace as the verb's table entry declares, SIGTERM/SIGHUP unwinding like ^C, and an
error as its one line. Light (see :mod:`armroot.session`).
"""

from __future__ import annotations

import os
import sys

from armroot import log
from armroot.cli import plain
from armroot.cli.table import Verb, by_name
from armroot.errors import ArmrootError, HostError, disk_full

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from types import SimpleNamespace
else:  # the C module under `signal`, without the enum wrappers (enum costs milliseconds)
    import _signal as signal


def entry() -> None:
    """Exit with the plain session's status, or hand over to :func:`armroot.cli.main.entry`."""
    before, command = plain.split_command(sys.argv[1:])
    args = plain.parse(before, command)
    if args is None:
        from armroot.cli.main import entry as full

        full()
        return
    code = run_plain(args, command)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_plain(args: SimpleNamespace, command: list[str] | None) -> int:
    """A plain `run` or `shell`: the verb's rules (verbosity, the user namespace, errors as
    one line), then the session; its exit status."""
    set_verbosity(args)

    def verb() -> int:
        enter(by_name(args.verb))
        return session_verb(args, command)

    return guarded(verb)


def set_verbosity(args: SimpleNamespace | object) -> None:
    if getattr(args, "verbose", False):
        log.VERBOSITY.set(log.Verbosity.VERBOSE)
    elif getattr(args, "quiet", False):
        log.VERBOSITY.set(log.Verbosity.QUIET)


def _terminate(signum: int, frame: object) -> None:
    del frame
    raise SystemExit(128 + signum)


def guarded(verb: Callable[[], int]) -> int:
    """Run a verb: SIGTERM and SIGHUP unwind like ^C does (so staging directories are
    removed); an error is its one line and its exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return verb()
    except ArmrootError as exc:
        log.error(exc.one_line())
        return exc.exit_code
    except OSError as exc:
        if not disk_full(exc):
            raise
        # The machine's, not the input's: a full disk wherever armroot was writing (the store,
        # the cache, a temporary directory). Whatever was half made is already unwound.
        where = f": {exc.filename}" if exc.filename else ""
        log.error(f"{exc.strerror}{where}: free space there, or point armroot elsewhere")
        return HostError.exit_code
    except KeyboardInterrupt:  # outside a session (a session passes ^C on to its command)
        log.console().print("armroot: interrupted", markup=False)
        return 130


def enter(verb: Verb) -> None:
    """What the verb's table entry declares: an ordinary user's armroot becomes root of its
    own user namespace (mapped onto the subordinate ids) before the verb runs."""
    if verb.userns and os.geteuid() != 0:
        from armroot.host import userns

        userns.become_root()


def session_verb(args: SimpleNamespace | object, command: list[str] | None) -> int:
    """`run` and `shell` from parsed arguments (the plain parser's or argparse's), once the
    verb's rules are in force (verbosity set, the user namespace entered)."""
    from armroot.session import run as session
    from armroot.session.request import Request, accel_mode

    a: SimpleNamespace = args  # type: ignore[assignment]
    argv = tuple(command if command is not None else getattr(a, "command", None) or ())
    accel = accel_mode(a.accel, a.no_accel)
    request = Request(
        a.name,
        argv,
        tuple(a.bind),
        a.workdir,
        tuple(a.env),
        a.host_ca,
        accel=accel,
        compile_cache=not a.no_cache,
    )
    result = session.shell(request) if a.verb == "shell" else session.run(request)
    if result.signal is not None and log.VERBOSITY.get() >= log.Verbosity.VERBOSE:
        import signal as signals

        log.debug(f"the command was killed by {signals.Signals(result.signal).name}")
    return result.exit_code
