"""The `armroot` command line: parse the arguments (the plain forms of `run` and `shell`
without argparse), enter the user namespace if the verb's entry says so, run its handler,
exit with its code."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from armroot.cli import handlers, launch, plain, table

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from types import SimpleNamespace


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace | SimpleNamespace, list[str] | None]:
    """The parsed arguments and the command after ``--`` (None without one); argparse
    exits on a usage error or after --help."""
    before, command = plain.split_command(list(argv))
    args: argparse.Namespace | SimpleNamespace | None = plain.parse(before, command)
    if args is None:
        from armroot.cli.parser import build_parser

        verb = next((a for a in before if not a.startswith("-")), None)
        parser = build_parser(verb if verb in table.names() else None)
        args = parser.parse_args(before)
        if command is not None and not table.by_name(args.verb).command:
            parser.error(f"'{args.verb}' takes no command after --")
    return args, command


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `armroot` command line; its exit code."""
    args, command = parse(sys.argv[1:] if argv is None else argv)
    launch.set_verbosity(args)
    verb = table.by_name(args.verb)
    handler: Callable[[argparse.Namespace | SimpleNamespace, list[str] | None], int]
    handler = getattr(handlers, verb.handler)

    def run() -> int:
        launch.enter(verb)
        return handler(args, command)

    return launch.guarded(run)


def entry() -> None:
    """The console script: main(), then exit without Python's slow interpreter teardown
    (everything armroot opened is closed by then; output is flushed first)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
