"""The argparse parser, built from :mod:`armroot.cli.table`."""

from __future__ import annotations

import argparse
from typing import Any

from armroot import __version__
from armroot.cli.table import VERBS, Arg

DESCRIPTION = "Run a Raspberry Pi's own Linux distribution on x86_64 under QEMU, safely."


def _verbosity(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="show every external command"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="show only errors"
    )


def _add(parser: argparse.ArgumentParser, arg: Arg) -> None:
    # A fresh copy of list values (an append's default), so parsing never shares the table's.
    options: dict[str, Any] = {
        key: list(value) if isinstance(value, list) else value for key, value in arg.options.items()
    }
    parser.add_argument(*arg.names, **options)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that verb's subparser is built (building them all
    costs)."""
    common = argparse.ArgumentParser(add_help=False)
    # Accepted before and after the verb; the verb's copy must not reset what came before.
    sub_common = argparse.ArgumentParser(add_help=False)
    _verbosity(common, False)
    _verbosity(sub_common, argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="armroot", description=DESCRIPTION, parents=[common])
    parser.add_argument("--version", action="version", version=f"armroot {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb in VERBS:
        if only is not None and verb.name != only:
            continue
        p = sub.add_parser(verb.name, parents=[sub_common], help=verb.help)
        for arg in verb.args:
            _add(p, arg)
    return parser
