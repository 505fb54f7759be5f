"""What a session is asked to do: one request, as the CLI or a library caller wrote it.
Light (see :mod:`armroot.session`)."""

from __future__ import annotations

from armroot.tuples import NamedTuple


class Request(NamedTuple):
    """A command to run in an env, and how."""

    name: str
    argv: tuple[str, ...]
    binds: tuple[str, ...] = ()  # SRC[:DST]
    workdir: str | None = None
    env: tuple[str, ...] = ()  # K=V
    host_ca: bool = False
    ephemeral: bool = False  # changes to the root vanish when the command ends
    capture: bool = False  # collect the command's stdout into Result.stdout
    exclusive_for: str | None = None  # hold the env's lock exclusively, for this purpose
    accel: bool = True  # native compilers first on PATH (armroot.accel), where available
    board: str | None = None  # the board the native compilers target (default: the env's)


class Result(NamedTuple):
    """How the command ended."""

    exit_code: int
    signal: int | None
    stdout: str = ""
