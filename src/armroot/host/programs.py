"""The one helper through which armroot runs external programs.

Every command is logged exactly (shell-quoted) in verbose mode, the program is looked up
first so a missing one gives an install hint, and a failure is reported once with the exit
status or signal name.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from armroot import log
from armroot.errors import ExternalCommandError, HostError
from armroot.host import packages as hostpkg
from armroot.host.syscalls import set_pdeathsig


def describe_status(returncode: int) -> str:
    """Human words for a subprocess return code (negative means killed by a signal)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if returncode == 127:
        return "exit status 127 (command not found)"
    return f"exit status {returncode}"


def require_program(name: str) -> str:
    """The full path of ``name`` on PATH, or a HostError saying how to install it."""
    # /usr/sbin and /sbin too: mke2fs, debugfs and e2fsck live there, off an ordinary
    # user's PATH on Debian.
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        package = hostpkg.BY_PROGRAM.get(name)
        hint = package.install_hint() if package else f"install `{name}` and try again"
        raise HostError(f"`{name}` was not found on this machine", hint)
    return found


def _die_with_us() -> None:
    set_pdeathsig(signal.SIGKILL)


def _stop(popen: subprocess.Popen[str]) -> None:
    """Stop a child armroot started (SIGTERM, then SIGKILL after 10 s) and reap it."""
    popen.terminate()
    try:
        popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def run(
    argv: Sequence[str | Path],
    *,
    check: bool = True,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; the child is killed if armroot dies.

    With ``on_line``, stdout and stderr are merged and each line goes to it as it arrives
    (and is kept, so a failure can show the tail).
    """
    args = [os.fspath(a) for a in argv]
    args[0] = require_program(args[0]) if "/" not in args[0] else args[0]
    log.debug("+ " + shlex.join(args))
    full_env = dict(os.environ) if env is None else dict(env)
    if on_line is None:
        proc = subprocess.run(
            args,
            env=full_env,
            text=True,
            capture_output=capture,
            cwd=cwd,
            preexec_fn=_die_with_us,
            check=False,
            errors="replace",  # a program may echo its input's bytes (gpgv does)
        )
        output = (proc.stdout or "") + (proc.stderr or "")
    else:
        lines: list[str] = []
        with subprocess.Popen(
            args,
            env=full_env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            preexec_fn=_die_with_us,
            errors="replace",
        ) as popen:
            assert popen.stdout is not None
            try:
                for line in popen.stdout:
                    line = line.rstrip("\n")
                    lines.append(line)
                    on_line(line)
            except BaseException:
                _stop(popen)
                raise
        proc = subprocess.CompletedProcess(args, popen.returncode, "\n".join(lines), "")
        output = proc.stdout
    if check and proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        if tail and on_line is not None and log.VERBOSITY.get() < log.Verbosity.VERBOSE:
            log.console().print(tail, markup=False, highlight=False)
        raise ExternalCommandError(
            f"`{shlex.join(args)}` failed with {describe_status(proc.returncode)}",
            "run again with --verbose to see every command and its output",
        )
    return proc
