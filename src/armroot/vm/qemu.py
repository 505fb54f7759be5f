"""A running qemu-system: started as the host's child, its serial console streamed through
:class:`~armroot.vm.console.ConsoleFilter` (the command's output to stdout, the boot kept
for error reports), the boot timeout, the power-off grace, and why a VM failed."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from typing import NamedTuple

from armroot import log
from armroot.errors import ArmrootError
from armroot.host import programs
from armroot.host.syscalls import set_pdeathsig
from armroot.vm import machine
from armroot.vm.console import ConsoleFilter

BOOT_TIMEOUT = 900.0  # seconds from QEMU's start to the command's start (TCG on a busy host)
POWER_OFF_GRACE = 60.0  # seconds QEMU gets to power off once the command has ended


class VmResult(NamedTuple):
    exit_code: int
    boot_seconds: float  # QEMU start to the command's start (0 when interactive)
    total_seconds: float


class VmFailed(ArmrootError):
    """The VM stopped before the command ended, or never reached it."""


def _popen(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, preexec_fn=lambda: set_pdeathsig(), **kwargs)  # type: ignore[call-overload, no-any-return]


def interactive(argv: list[str], what: str) -> VmResult:
    """Boot with the serial console on this terminal until QEMU ends."""
    log.info(
        f"Booting {what}; the serial console follows "
        "(exit its shell to power off; Ctrl-A X stops QEMU)"
    )
    start = time.monotonic()
    proc = _popen(argv)
    try:
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if code != 0:
        raise VmFailed(f"qemu ended with {programs.describe_status(code)}", "see its message above")
    return VmResult(0, 0.0, time.monotonic() - start)


def command(argv: list[str], what: str, nonce: str, boot_timeout: float, name: str) -> VmResult:
    """Boot, pass the command's output on, and return its exit status (``nonce`` marks its
    start and end on the console; ``name`` is the env's, for hints)."""
    log.info(f"Booting {what}")
    console = ConsoleFilter(nonce)
    start = time.monotonic()
    booted = 0.0
    proc = _popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    ended = 0.0
    errors = b""
    streams = [proc.stdout.fileno(), proc.stderr.fileno()]
    try:
        while streams:
            now = time.monotonic()
            if console.status is not None:  # the command ended: QEMU has a minute to stop
                timeout: float | None = max(0.0, ended + POWER_OFF_GRACE - now)
            elif console.started:
                timeout = None  # the command takes as long as it takes
            else:
                timeout = max(0.0, start + boot_timeout - now)
            ready, _, _ = select.select(streams, [], [], timeout)
            if not ready and console.status is not None:
                log.warn("the VM did not power off after the command; stopped it")
                proc.kill()
                break
            if not ready:
                proc.kill()
                proc.wait()
                raise VmFailed(
                    f"the VM did not reach the command within {boot_timeout:.0f} s; "
                    f"its console ended with: {_last_line(console.boot_tail())}",
                    "run with --verbose for the whole boot log",
                )
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    streams.remove(fd)
                    continue
                if fd == proc.stderr.fileno():
                    errors += data
                    continue
                was_started = console.started
                shown = console.feed(data)
                if console.started and not was_started:
                    booted = time.monotonic() - start
                    log.debug(console.boot_tail(200))
                    log.info(f"    booted in {booted:.1f}s; running the command")
                if console.status is not None and not ended:
                    ended = time.monotonic()
                if shown:
                    _write(shown)
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    _write(console.flush())
    total = time.monotonic() - start
    if console.status is None:
        raise _failure(console, errors, code, name)
    return VmResult(console.status, booted, total)


def _failure(console: ConsoleFilter, errors: bytes, code: int, name: str) -> VmFailed:
    """Why the console closed without the command's end marker."""
    message = errors.decode("utf-8", "replace").strip().splitlines()
    if message:
        reason = f"qemu: {message[-1]}"
    elif console.started:
        reason = f"the VM stopped while the command ran ({programs.describe_status(code)})"
    else:
        log.info(console.boot_tail())
        reason = f"the VM stopped during boot: {_last_line(console.boot_tail())}"
        if machine.NO_DISK_SIGN in console.boot_tail(200):
            return VmFailed(
                "the VM's kernel found no disk (/dev/vda): its initramfs has no driver "
                "for the virt board's virtio disk",
                f"`armroot vm {name} --install-kernel` adds them and rebuilds it",
            )
    return VmFailed(reason, "run with --verbose for the whole boot log")


def _write(data: bytes) -> None:
    """The command's output to stdout; a reader that went away (`| head`) is not an error
    of the VM's: the rest is dropped and the command still runs to its end."""
    if not data:
        return
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else "(nothing)"
