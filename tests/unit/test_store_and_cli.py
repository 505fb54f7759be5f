from __future__ import annotations

import os
from pathlib import Path

import pytest

from armroot.cli.parser import build_parser
from armroot.cli.plain import split_command as _split_command
from armroot.errors import EnvBusy, EnvExists, EnvNotFound, UsageError
from armroot.store.envs import EnvMeta, Store, home
from armroot.store.names import check_name
from armroot.store.tree import safe_remove


def test_names_are_checked() -> None:
    assert check_name("pi-4.b_2") == "pi-4.b_2"
    for bad in ("", "../x", "a/b", "-x", "x" * 64, "a b", "a\nb"):
        with pytest.raises(UsageError):
            check_name(bad)


def test_symlinked_store_is_canonicalized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    monkeypatch.setenv("ARMROOT_HOME", str(tmp_path / "link"))
    assert home() == real


def test_commit_is_atomic_and_refuses_duplicates(tmp_path: Path) -> None:
    store = Store(tmp_path)
    meta = EnvMeta(name="pi", arch="arm64", source="test", created="now")
    with store.staging("pi") as staging:
        (staging / "rootfs").mkdir()
        store.commit(staging, meta)
    assert store.names() == ["pi"]
    assert list(store.staging_dir.iterdir()) == []
    with pytest.raises(EnvExists), store.staging("pi"):
        pass


def test_failed_create_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(RuntimeError), store.staging("pi") as staging:
        (staging / "rootfs/etc").mkdir(parents=True)
        raise RuntimeError("boom")
    assert list(store.staging_dir.iterdir()) == [] and store.names() == []


def test_unknown_env_lists_known_ones(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(EnvNotFound) as exc:
        store.get("nope")
    assert "armroot create" in exc.value.one_line()


def test_remove_refuses_while_a_session_holds_the_lock(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.staging("pi") as staging:
        (staging / "rootfs").mkdir()
        env = store.commit(staging, EnvMeta(name="pi", arch="arm64", source="t", created="now"))
    with store.session_lock(env), pytest.raises(EnvBusy, match="in use"):
        store.remove("pi")
    store.remove("pi")
    assert store.names() == []


def test_safe_remove_does_not_follow_symlinks(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    doomed = tmp_path / "doomed"
    (doomed / "sub").mkdir(parents=True)
    os.symlink(victim, doomed / "sub/link")
    os.symlink(victim / "keep", doomed / "file-link")
    (doomed / "sub/ro").mkdir(mode=0o500)
    safe_remove(doomed)
    assert not doomed.exists() and (victim / "keep").read_text() == "precious"


def test_command_after_double_dash_keeps_its_options() -> None:
    before, command = _split_command(["run", "pi", "--bind", "/x", "--", "uname", "-m", "--"])
    assert command == ["uname", "-m", "--"]
    args = build_parser().parse_args(before)
    assert args.bind == ["/x"] and args.name == "pi"


def test_every_verb_is_known_to_the_fast_parser() -> None:
    from armroot.cli.table import names

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    assert set(names()) == set(sub.choices or {})
    for verb in names():
        only = build_parser(verb)
        only_sub = next(a for a in only._actions if a.dest == "verb")
        assert list(only_sub.choices or {}) == [verb]


@pytest.mark.parametrize("where", ["root", "home", "busy"])
def test_store_refuses_places_that_are_not_its_own(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from armroot.store.envs import check_home

    monkeypatch.setenv("HOME", str(tmp_path))
    if where == "root":
        target = Path("/")
    elif where == "home":
        target = tmp_path
    else:
        target = tmp_path / "project"
        target.mkdir()
        (target / "main.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(UsageError, match="refusing to use"):
        check_home(target)
    fresh = tmp_path / "store"
    check_home(fresh)  # a new directory is fine
    (fresh / "envs").mkdir(parents=True)
    check_home(fresh)  # and so is an existing store


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "pi", "--", "true"],
        ["run", "pi", "--bind", "/a", "--bind", "/b:/c", "--env", "A=1", "--", "uname", "-m"],
        ["run", "--host-ca", "pi", "--workdir", "/w", "--workdir", "/x", "--", "ls"],
        ["run", "-v", "pi", "-q", "--env", "B=", "--", "ls"],
        ["run", "--verbose", "pi", "--quiet", "--host-ca"],
        ["shell", "pi", "--bind", "/src", "--host-ca"],
        ["shell", "-q", "pi"],
        ["run", "pi"],
        ["run", "pi", "--no-cache", "--accel", "twins", "--", "make"],
    ],
)
def test_the_plain_parser_agrees_with_argparse(argv: list[str]) -> None:
    from armroot.cli.plain import parse as quick_parse

    before, command = _split_command(argv)
    quick = quick_parse(before, command)
    assert quick is not None
    assert vars(quick) == vars(build_parser(argv[0]).parse_args(before))


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "pi", "ls", "--", "x"],  # a command without -- goes to argparse
        ["run", "pi", "--bind=/a", "--", "x"],
        ["run", "pi", "--bi", "/a", "--", "x"],  # abbreviation
        ["run", "pi", "--env", "--", "x"],  # missing value: argparse reports it
        ["run", "pi", "--env", "-x", "--", "x"],
        ["run", "--help"],
        ["run"],
        ["-v", "run", "pi", "--", "x"],  # options before the verb
        ["shell", "pi", "--", "x"],  # argparse-path error: shell takes no command
        ["list"],
    ],
)
def test_the_plain_parser_leaves_everything_else_to_argparse(argv: list[str]) -> None:
    from armroot.cli.plain import parse as quick_parse

    assert quick_parse(*_split_command(argv)) is None
