"""The CLI as a table: one entry per verb. Plain data; :mod:`armroot.cli.parser` builds the
argparse parser from it and :mod:`armroot.cli.handlers` holds the handler each entry names.
Light (see :mod:`armroot.session`): the launcher reads it for the plain forms of `run`.
"""

from __future__ import annotations

from armroot.tuples import NamedTuple


class Arg(NamedTuple):
    """One argument: its names (a positional has one name without dashes) and argparse's
    keyword arguments for it."""

    names: tuple[str, ...]
    options: dict[str, object] = {}  # noqa: RUF012 - never mutated


class Verb(NamedTuple):
    name: str
    help: str
    args: tuple[Arg, ...]
    handler: str  # the function's name in armroot.cli.handlers
    command: bool = False  # takes a command after --
    userns: bool = False  # an ordinary user's armroot enters its user namespace first


HOST_CA_HELP = "trust the host's CA bundle inside (TLS-intercepting networks)"
NO_ACCEL_HELP = "use the root's own (emulated) compilers, not the native ones"

NAME = Arg(("name",))
HOST_CA = Arg(("--host-ca",), {"action": "store_true", "help": HOST_CA_HELP})
NO_ACCEL = Arg(("--no-accel",), {"action": "store_true", "help": NO_ACCEL_HELP})
SESSION = (
    NAME,
    Arg(
        ("--bind",),
        {
            "action": "append",
            "default": [],
            "metavar": "SRC[:DST]",
            "help": "bind a host path into the root (repeatable)",
        },
    ),
    Arg(("--workdir",), {"help": "working directory inside the root"}),
    Arg(
        ("--env",),
        {
            "action": "append",
            "default": [],
            "metavar": "K=V",
            "help": "set an environment variable (repeatable)",
        },
    ),
    HOST_CA,
    NO_ACCEL,
)

VERBS: tuple[Verb, ...] = (
    Verb(
        "run",
        "run a command in an environment",
        (*SESSION, Arg(("command",), {"nargs": "*", "help": "the command (put it after --)"})),
        "session",
        command=True,
        userns=True,
    ),
    Verb("shell", "open a shell in an environment", SESSION, "session", userns=True),
)

_BY_NAME = {verb.name: verb for verb in VERBS}


def by_name(name: str) -> Verb:
    return _BY_NAME[name]


def names() -> tuple[str, ...]:
    return tuple(_BY_NAME)
