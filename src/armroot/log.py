"""Messages, timed steps and progress, all on stderr (stdout belongs to results and commands).

Verbosity lives in a ContextVar set once by the CLI, not in arguments threaded through calls.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported on first output: `armroot run` stays quick to start.
    from rich.console import Console
    from rich.progress import Progress


class Verbosity(enum.IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


VERBOSITY: contextvars.ContextVar[Verbosity] = contextvars.ContextVar(
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
        console().print(message, markup=False)


def debug(message: str) -> None:
    if VERBOSITY.get() >= Verbosity.VERBOSE:
        console().print(f"[dim]{_escape(message)}[/dim]")


_warned = [0]


def warn(message: str) -> None:
    _warned[0] += 1
    console().print(f"[yellow]warning:[/yellow] {_escape(message)}")


def warnings_given() -> int:
    """How many warnings this process has printed so far."""
    return _warned[0]


def error(message: str) -> None:
    """The one line an error gets."""
    console().print(f"[bold red]armroot: error:[/bold red] {_escape(message)}")


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """A timed step: prints what starts, and how long it took when it ends."""
    start = time.monotonic()
    if VERBOSITY.get() >= Verbosity.NORMAL:
        console().print(f"[bold blue]==>[/bold blue] {_escape(title)}")
    try:
        yield
    except BaseException:
        if VERBOSITY.get() >= Verbosity.NORMAL:
            console().print(
                f"[red]  failed[/red] after {time.monotonic() - start:.1f}s: {_escape(title)}"
            )
        raise
    if VERBOSITY.get() >= Verbosity.NORMAL:
        console().print(f"[dim]    done in {time.monotonic() - start:.1f}s[/dim]")


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
