"""What a session is asked to do: one request, as the CLI or a library caller wrote it.
Light (see :mod:`armroot.session`)."""

from __future__ import annotations

from armroot.tuples import NamedTuple

# How a session runs the root's compilers and build tools (armroot.accel):
#   twins  the root's own programs, native through their amd64 twins where the archive has
#          them (armroot.twins), emulated where not
#   clang  native clang standing in for the root's gcc (falling back to it), tools emulated
#   none   everything emulated by QEMU
#   auto   twins where the root's compiler has a twin, else clang
ACCEL_MODES = ("auto", "twins", "clang", "none")


ACCEL_VAR = "ARMROOT_ACCEL"  # the mode where neither --accel nor armroot.toml names one


def accel_mode(asked: str | None, no_accel: bool = False, configured: str | None = None) -> str:
    """The mode --accel (``asked``), --no-accel and armroot.toml (``configured``) choose, in
    that order, else $ARMROOT_ACCEL, else auto."""
    import os

    if no_accel:
        return "none"
    mode = asked or configured or os.environ.get(ACCEL_VAR) or "auto"
    if mode not in ACCEL_MODES:
        from armroot.errors import UsageError

        source = "--accel" if asked else ("accel" if configured else ACCEL_VAR)
        raise UsageError(f"unknown {source} mode '{mode}'", f"use one of {', '.join(ACCEL_MODES)}")
    return mode


def package_mode() -> str:
    """How package changes run (install, upgrade): their maintainer scripts through twins,
    unless the user's default turns native programs off (clang has nothing to add there)."""
    return "twins" if accel_mode(None) in ("auto", "twins") else "none"


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
    accel: str = "auto"  # one of ACCEL_MODES
    board: str | None = None  # the board the native compilers target (default: the env's)
    compile_cache: bool = True  # accelerated compiles go through the compiler cache
    cache_stats: str | None = None  # inside: where the cache logs this request's compiles
    distribute: tuple[str, ...] = ()  # DISTCC_HOSTS words: the native clang's compiles go there


class Result(NamedTuple):
    """How the command ended."""

    exit_code: int
    signal: int | None
    stdout: str = ""
