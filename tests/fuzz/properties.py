"""The properties every target's test states, in one place (issue 20):

- a failure on bad input is an :class:`ArmrootError` whose CLI line is one line (the CLI's
  ``launch.guarded`` prints it as ``armroot: error: ...`` and exits non-zero); any other
  exception escaping is a traceback, and fails the test;
- nothing is written outside the target: :class:`Witness` records a tree beside the target
  (and what a symlink in the input could reach) and says whether anything there changed;
- a record that does not match what made it is never used (each record's test states it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from armroot.errors import ArmrootError

T = TypeVar("T")


def clean_failure(exc: ArmrootError) -> str:
    """The line the CLI would print for ``exc``, checked to be one non-empty line."""
    line = exc.one_line()
    assert line.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in line and "\r" not in line, f"more than one line: {line!r}"
    assert "Traceback" not in line, line
    return line


def outcome(call: Callable[[], T]) -> T | str:
    """``call()``'s result, or the one line of the ArmrootError it raised. Any other
    exception propagates: that is a traceback for a user, and a failed property."""
    try:
        return call()
    except ArmrootError as exc:
        return clean_failure(exc)


def snapshot(top: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path below ``top`` (not following symlinks): mode, size, mtime, link target."""
    found: dict[str, tuple[int, int, int, str]] = {}
    if not os.path.lexists(top):
        return found
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            link = os.readlink(path) if os.path.islink(path) else ""
            found[os.path.relpath(path, top)] = (st.st_mode, st.st_size, st.st_mtime_ns, link)
    return found


class Witness:
    """A directory beside the target that an input could try to reach (through ``..``, an
    absolute path, or a symlink); :meth:`unchanged` says whether it still holds exactly what
    it held."""

    def __init__(self, top: Path) -> None:
        self.top = top
        top.mkdir(parents=True, exist_ok=True)
        (top / "precious").write_text("the host's file\n")
        (top / "dir").mkdir(exist_ok=True)
        self.before = snapshot(top)

    def unchanged(self) -> bool:
        return snapshot(self.top) == self.before
