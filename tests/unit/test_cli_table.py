"""The CLI's table against the parser built from it, the handlers it names, and the rules
it declares (a command after --, the user namespace)."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Iterator

import pytest

from armroot.cli import handlers, main, table
from armroot.cli.parser import build_parser

HOST_CA_VERBS = {"run", "shell", "install", "upgrade", "build", "vm"}
USERNS_VERBS = {
    *("run", "shell", "build", "vm", "snapshot", "reset", "export", "rm", "create"),
    *("install", "upgrade"),
}
COSTLY = (
    *("typing", "re", "enum", "json", "pathlib", "argparse", "collections", "contextlib"),
    "rich",
)


def _minimal(verb: table.Verb) -> list[str]:
    """The shortest valid argv for ``verb``: each positional it requires, each required
    option, with a value its choices allow."""
    argv = [verb.name]
    for arg in verb.args:
        choices = arg.options.get("choices")
        value = str(choices[0]) if isinstance(choices, list) else "x"
        if arg.names[0].startswith("-"):
            if arg.options.get("required"):
                argv += [arg.names[0], value]
        elif arg.options.get("nargs") not in ("?", "*"):
            argv.append(value)
    return argv


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if a.dest == "verb")
    return dict(sub.choices or {})


@pytest.fixture
def signals() -> Iterator[None]:
    """main() installs SIGTERM and SIGHUP handlers: put pytest's back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.mark.parametrize("verb", table.VERBS, ids=table.names())
def test_every_verb_parses_its_minimal_argv(verb: table.Verb) -> None:
    argv = _minimal(verb)
    for parser in (build_parser(verb.name), build_parser()):
        args = parser.parse_args(argv)
        assert args.verb == verb.name
        assert args.verbose is False and args.quiet is False


@pytest.mark.parametrize("verb", table.names())
def test_every_verb_has_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main.main([verb, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: armroot {verb} ")


def test_every_handler_exists() -> None:
    for verb in table.VERBS:
        assert callable(getattr(handlers, verb.handler, None)), verb.handler


def test_the_parser_has_the_tables_verbs_in_order() -> None:
    assert list(_subparsers(build_parser())) == list(table.names())
    assert len(set(table.names())) == len(table.VERBS)


def test_host_ca_is_one_option_with_one_help() -> None:
    having = set()
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            if "--host-ca" in action.option_strings:
                having.add(name)
                assert action.help == table.HOST_CA_HELP
    assert having == HOST_CA_VERBS
    for verb in table.VERBS:
        assert all(a == table.HOST_CA for a in verb.args if "--host-ca" in a.names)


def test_the_declared_rules() -> None:
    assert {v.name for v in table.VERBS if v.command} == {"run", "build", "vm"}
    assert {v.name for v in table.VERBS if v.userns} == USERNS_VERBS


@pytest.mark.parametrize("verb", [v for v in table.VERBS if not v.command], ids=str)
def test_a_command_after_double_dash_only_where_declared(
    verb: table.Verb, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main.main([*_minimal(verb), "--", "true"])
    assert exc.value.code == 2
    assert f"armroot: error: '{verb.name}' takes no command after --" in capsys.readouterr().err


@pytest.mark.parametrize("verb", [v for v in table.VERBS if v.command], ids=str)
def test_a_declared_command_is_kept(verb: table.Verb) -> None:
    args, command = main.parse([*_minimal(verb), "--", "uname", "-m"])
    assert args.verb == verb.name and command == ["uname", "-m"]


@pytest.mark.parametrize("verb", ["rm", "list"])
def test_the_user_namespace_is_entered_as_declared_before_the_handler(
    verb: str, monkeypatch: pytest.MonkeyPatch, signals: None
) -> None:
    from armroot.host import userns

    done: list[str] = []
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setattr(userns, "become_root", lambda: done.append("enter"))
    handler = table.by_name(verb).handler

    def handle(args: object, command: object) -> int:
        done.append(handler)
        return 3

    monkeypatch.setattr(handlers, handler, handle)
    assert main.main(_minimal(table.by_name(verb))) == 3
    assert done == (["enter", handler] if table.by_name(verb).userns else [handler])


def test_the_table_loads_nothing_costly(monkeypatch: pytest.MonkeyPatch) -> None:
    # In this process (unit tests start none): with the costly modules blocked (importing
    # a None entry of sys.modules raises) and the table's own modules unloaded, it must
    # still load. Everything is put back before asserting (pytest's report needs it).
    blocked: ImportError | None = None
    with monkeypatch.context() as patch:
        for name in COSTLY:
            patch.setitem(sys.modules, name, None)
        for name in ("armroot", "armroot.cli", "armroot.cli.table", "armroot.tuples"):
            patch.delitem(sys.modules, name)
        try:
            fresh = importlib.import_module("armroot.cli.table")
        except ImportError as exc:
            blocked = exc
    assert blocked is None, f"armroot.cli.table imports a costly module: {blocked}"
    assert fresh is not table and fresh.names() == table.names()
