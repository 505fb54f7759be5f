"""`run` and `shell` in their plain forms, parsed without argparse (which costs `armroot run`
about 20 ms): VERB NAME, options spelled out in full, values as separate words. The result
has the same values argparse gives; anything else (help, abbreviations, errors) is None and
goes to argparse. Light (see :mod:`armroot.session`)."""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_FLAGS = {"--host-ca": "host_ca", "--no-accel": "no_accel", "--no-cache": "no_cache"}
_FLAGS |= {"-v": "verbose", "--verbose": "verbose"}
_FLAGS |= {"-q": "quiet", "--quiet": "quiet"}
_REPEATED = {"--bind": "bind", "--env": "env"}


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """armroot's own words, and the command after ``--`` (None without one)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, None


def parse(before: Sequence[str], command: Sequence[str] | None) -> SimpleNamespace | None:
    """`run`/`shell` in their plain forms (VERB NAME, options spelled out in full, values as
    separate words) parsed without argparse, to the same values; None for anything else,
    which argparse then parses (help, abbreviations, errors)."""
    if len(before) < 2 or before[0] not in ("run", "shell"):
        return None
    if before[0] == "shell" and command is not None:
        return None
    values: dict[str, object] = dict(verbose=False, quiet=False, host_ca=False, workdir=None)
    values.update(no_accel=False, accel=None, no_cache=False)
    bind: list[str] = []
    env: list[str] = []
    values.update(verb=before[0], bind=bind, env=env)
    repeated = {"bind": bind, "env": env}
    names: list[str] = []
    words = iter(before[1:])
    for word in words:
        if word in _FLAGS:
            values[_FLAGS[word]] = True
        elif word in _REPEATED or word in ("--workdir", "--accel"):
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
            if word in ("--workdir", "--accel"):
                values[word[2:]] = value
            else:
                repeated[_REPEATED[word]].append(value)
        elif word.startswith("-") or names:
            return None
        else:
            names.append(word)
    if not names:
        return None
    values["name"] = names[0]
    if values["verb"] == "run":
        values["command"] = []
    return SimpleNamespace(**values)
