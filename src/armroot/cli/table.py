"""The CLI as a table: one entry per verb. Plain data; :mod:`armroot.cli.parser` builds the
argparse parser from it and :mod:`armroot.cli.handlers` holds the handler each entry names.
Light (see :mod:`armroot.session`): the launcher reads it for the plain forms of `run`.
"""

from __future__ import annotations

from armroot.session.request import ACCEL_MODES
from armroot.tuples import NamedTuple


class Arg(NamedTuple):
    """One argument: its names (a positional has one name without dashes) and argparse's
    keyword arguments for it."""

    names: tuple[str, ...]
    options: dict[str, object] = {}  # noqa: RUF012 - never mutated


class Verb(NamedTuple):
    """One verb: its name and help, its arguments, and what it declares."""

    name: str
    help: str
    args: tuple[Arg, ...]
    handler: str  # the function's name in armroot.cli.handlers
    command: bool = False  # takes a command after --
    userns: bool = False  # an ordinary user's armroot enters its user namespace first


def _csv(text: str) -> tuple[str, ...]:
    """A comma-separated list, without empty items."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _flag(name: str, help: str) -> Arg:
    return Arg((name,), {"action": "store_true", "help": help})


HOST_CA_HELP = "trust the host's CA bundle inside (TLS-intercepting networks)"
NO_ACCEL_HELP = "run everything emulated (the same as --accel none)"
NO_CACHE_HELP = "compile without the compiler cache (ccache, one per compiler identity)"
ACCEL_HELP = (
    "twins: the root's own programs, native where the archive has their amd64 build; clang: "
    "native clang for the root's gcc; none: all emulated; auto (default): twins where the "
    "root's compiler has one, else clang"
)

NAME = Arg(("name",))
HOST_CA = _flag("--host-ca", HOST_CA_HELP)
NO_ACCEL = _flag("--no-accel", NO_ACCEL_HELP)
NO_COMPILE_CACHE = _flag("--no-cache", NO_CACHE_HELP)
ACCEL = Arg(("--accel",), {"choices": ACCEL_MODES, "help": ACCEL_HELP})
JSON = Arg(("--json",), {"action": "store_true"})
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
    ACCEL,
    NO_COMPILE_CACHE,
)

CREATE = (
    NAME,
    Arg(
        ("--from",),
        {
            "dest": "source",
            "default": None,
            "help": "debian:SUITE, an id from `armroot images`, a URL, or a tarball/.img/.img.xz"
            "/.zip file (default: debian:trixie, or the board's default image)",
        },
    ),
    Arg(("--board",), {"help": "the Pi this env builds for (see `armroot boards`)"}),
    Arg(("--sha256",), {"help": "the sha256 a downloaded file must have"}),
    _flag("--no-verify", "accept a download no checksum is known for"),
    Arg(("--arch",), {"help": "armel, armhf or arm64 (Debian default: arm64)"}),
    Arg(("--include",), {"type": _csv, "default": (), "help": "extra packages, comma-separated"}),
    _flag("--minimal", "no build tools (only what --include names)"),
    Arg(("--mirror",), {"help": "Debian mirror URL"}),
    _flag(
        "--refresh",
        "bootstrap Debian anew even if a cached bootstrap is current; fetch the "
        "distributions' indexes and signatures anew",
    ),
    _flag(
        "--offline",
        "restore the newest cached Debian bootstrap without asking the archive; use the "
        "kept indexes and signatures, fetching none",
    ),
    _flag("--no-cache", "bootstrap Debian without using or keeping a cached bootstrap"),
)

BUILD = (
    Arg(("name",), {"nargs": "?", "help": "the env (default: [env] name in armroot.toml)"}),
    Arg(("--src",), {"default": ".", "help": "the project directory (default: .)"}),
    Arg(("--out",), {"help": "where artifacts go (default: SRC/armroot-out)"}),
    _flag("--ephemeral", "build on a throwaway overlay: the env stays unchanged"),
    HOST_CA,
    NO_ACCEL,
    ACCEL,
    NO_COMPILE_CACHE,
    Arg(
        ("--distribute",),
        {
            "action": "append",
            "default": [],
            "metavar": "HOST[,HOST...]",
            "help": "send compiles to these armroot helpers (HOST[:PORT][/JOBS]; "
            "see `armroot helper serve`)",
        },
    ),
    _flag(
        "--offline",
        "fetch nothing: a missing env is restored from the newest cached bootstrap, and "
        "armroot.toml's packages must be installed already",
    ),
)

HELPER = (
    Arg(("action",), {"choices": ["serve", "check"]}),
    Arg(("host",), {"nargs": "?", "help": "check: the helper, HOST[:PORT]"}),
    Arg(
        ("--allow",),
        {
            "action": "append",
            "default": [],
            "metavar": "NET",
            "help": "serve: the client addresses or networks that may send compiles "
            "(repeatable; default 127.0.0.1 only)",
        },
    ),
    Arg(
        ("--listen",),
        {
            "help": "serve: the address to listen on (default: 127.0.0.1 "
            "without --allow, else every address)"
        },
    ),
    Arg(("--port",), {"type": int, "default": 3632, "help": "serve: TCP port (default 3632)"}),
    Arg(("--jobs",), {"type": int, "help": "serve: compiles at once (default: its cores)"}),
    Arg(
        ("--env",),
        {
            "action": "append",
            "default": [],
            "metavar": "NAME",
            "help": "serve: also this env's twin gcc and g++ (repeatable); check: whether the "
            "helper has the compilers this env's builds send (twins or clang, by --accel)",
        },
    ),
    Arg(
        ("--accel",),
        {
            "choices": ["auto", "twins", "clang"],
            "default": "auto",
            "help": "check --env: the compilers of this mode (default: what auto gives)",
        },
    ),
)

VM = (
    NAME,
    Arg(("--mem",), {"help": "the VM's memory: 1024, 512M, 2G (default: 1G)"}),
    Arg(("--cpus",), {"type": int, "help": "virtual CPUs, 1-8 (default: up to 4)"}),
    _flag("--persist", "keep what the VM changed (default: thrown away)"),
    _flag(
        "--install-kernel",
        "install the distribution's kernel for the virt board if the root has none, "
        "and make its initramfs carry the virt board's drivers",
    ),
    HOST_CA,
    Arg(("--workdir",), {"default": "/root", "help": "where the command starts (default /root)"}),
    Arg(("command",), {"nargs": "*", "help": "run it once, then power off (put it after --)"}),
)

DOCTOR = (
    _flag("--fix", "mount binfmt_misc, register QEMU (root)"),
    JSON,
    Arg(
        ("--env",),
        {"dest": "https_env", "metavar": "NAME", "help": "also check HTTPS inside this env"},
    ),
    Arg(("--url",), {"default": None, "help": "the https URL --env fetches"}),
)

# userns: the verbs that run sessions or change an env's files (owned by subordinate ids
# when rootless, so removed and copied from inside); not list and info (they read from
# outside) nor doctor (it checks from outside that a rootless armroot can enter, and enters
# only then, for --env's checks: commands/doctor.py).
VERBS: tuple[Verb, ...] = (
    Verb("create", "create an environment", CREATE, "create", userns=True),
    Verb(
        "run",
        "run a command in an environment",
        (*SESSION, Arg(("command",), {"nargs": "*", "help": "the command (put it after --)"})),
        "session",
        command=True,
        userns=True,
    ),
    Verb("shell", "open a shell in an environment", SESSION, "session", userns=True),
    Verb(
        "install",
        "install packages (root's own manager)",
        (NAME, Arg(("packages",), {"nargs": "+"}), HOST_CA),
        "install",
        userns=True,
    ),
    Verb("upgrade", "upgrade every package in an env", (NAME, HOST_CA), "upgrade", userns=True),
    Verb("build", "build a project for the env's board", BUILD, "build", command=True, userns=True),
    Verb(
        "init",
        "write a starter armroot.toml",
        (Arg(("--dir",), {"default": ".", "help": "the project directory (default: .)"}),),
        "init",
    ),
    Verb("boards", "list the Raspberry Pi boards", (JSON,), "boards"),
    Verb(
        "snapshot",
        "save a copy of an env's root",
        (NAME, Arg(("snapshot",))),
        "snapshot",
        userns=True,
    ),
    Verb(
        "reset",
        "put an env back to a snapshot",
        (NAME, Arg(("snapshot",), {"nargs": "?", "help": "default: the newest"})),
        "reset",
        userns=True,
    ),
    Verb(
        "images",
        "list the image catalogue (the distributions' current releases)",
        (JSON, _flag("--refresh", "fetch the distributions' indexes anew")),
        "images",
    ),
    Verb(
        "cache",
        "list or clean downloads and cached bootstraps",
        (Arg(("action",), {"choices": ["list", "clean"]}), JSON),
        "cache",
    ),
    Verb(
        "export",
        "pack an environment into a tarball",
        (
            NAME,
            Arg(
                ("--tar",),
                {
                    "required": True,
                    "metavar": "FILE",
                    "help": "output .tar, .tar.gz, .tar.xz or .tar.zst",
                },
            ),
        ),
        "export",
        userns=True,
    ),
    Verb("list", "list environments", (JSON,), "list_envs"),
    Verb("info", "show one environment", (NAME, JSON), "info"),
    Verb("rm", "remove an environment", (NAME,), "remove", userns=True),
    # vm before doctor: the order `armroot --help` has always listed them in
    Verb(
        "vm",
        "boot an env with its own kernel under qemu-system",
        VM,
        "vm",
        command=True,
        userns=True,
    ),
    Verb("doctor", "check (and --fix) the host", DOCTOR, "doctor"),
    Verb("helper", "serve compiles to other machines' builds, or check a helper", HELPER, "helper"),
)

_BY_NAME = {verb.name: verb for verb in VERBS}


def by_name(name: str) -> Verb:
    """The verb called ``name`` (KeyError for none)."""
    return _BY_NAME[name]


def names() -> tuple[str, ...]:
    """Every verb's name, in the table's order."""
    return tuple(_BY_NAME)
