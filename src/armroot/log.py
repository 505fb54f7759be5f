"""Messages, timed steps and progress, all on stderr (stdout belongs to results and commands).

Verbosity lives in a ContextVar set once by the CLI, not in arguments threaded through calls.
Light (see :mod:`armroot.session`): rich is imported on the first message.
"""

from __future__ import annotations

import contextvars
import sys
import time

from armroot.errors import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


class Verbosity:
    """How much armroot says (plain ints: enum costs `armroot run` several milliseconds)."""

    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


VERBOSITY: contextvars.ContextVar[int] = contextvars.ContextVar(
    "armroot_verbosity", default=Verbosity.NORMAL
)

_consoles: list[Console] = []


def console() -> Console:
    if not _consoles:
        from rich.console import Console

        _consoles.append(Console(stderr=True, highlight=False, soft_wrap=True))
    return _consoles[0]


def info(message: str) -> None:
    if VERBOSITY.get() >= Verbosity.NORMAL:
        console().print(printable(message, _LINES), markup=False)


def debug(message: str) -> None:
    if VERBOSITY.get() >= Verbosity.VERBOSE:
        console().print(f"[dim]{_escape(message, _LINES)}[/dim]")


_warned = [0]


def warn(message: str) -> None:
    _warned[0] += 1
    console().print(f"[yellow]warning:[/yellow] {_escape(message, _TAB)}")


def warnings_given() -> int:
    """How many warnings this process has printed so far."""
    return _warned[0]


def error(message: str) -> None:
    """The one line an error gets."""
    console().print(f"[bold red]armroot: error:[/bold red] {_escape(message)}")


_LINES = "\n\t"  # what info and debug messages may hold (a warning or an error is one line)
_TAB = "\t"


def _escape(text: str, keep: str = "") -> str:
    """``text`` for rich: printable (armroot.errors.printable), its markup escaped."""
    return printable(text, keep).replace("[", r"\[")


class step:
    """A timed step: prints what starts, and how long it took when it ends (or failed)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.monotonic()
        if VERBOSITY.get() >= Verbosity.NORMAL:
            console().print(f"[bold blue]==>[/bold blue] {_escape(self.title)}")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if VERBOSITY.get() < Verbosity.NORMAL:
            return
        took = time.monotonic() - self.start
        if kind is not None:
            console().print(f"[red]  failed[/red] after {took:.1f}s: {_escape(self.title)}")
        else:
            console().print(f"[dim]    done in {took:.1f}s[/dim]")


def progress(total_bytes: bool = False) -> Progress:
    """A progress display on stderr; hidden when quiet or when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns: list[object] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    if total_bytes:
        columns += [DownloadColumn(), TransferSpeedColumn()]
    else:
        columns += [TextColumn("{task.completed:.0f}/{task.total:.0f}")]
    columns.append(TimeElapsedColumn())
    disable = VERBOSITY.get() < Verbosity.NORMAL or not sys.stderr.isatty()
    return Progress(*columns, console=console(), disable=disable, transient=True)  # type: ignore[arg-type]
