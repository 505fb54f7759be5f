"""Twins inside a Debian bootstrap (armroot.images.bootstrap_twins, images.debian): the
hooks' command lines, mmdebstrap's, the refusal to touch binfmt_misc in armroot's own
namespaces, and what the progress shows of them."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from armroot.images import bootstrap_twins
from armroot.images.bootstrap_twins import Hooks, namespaces
from armroot.images.debian import NO_PRECONFIGURE, DebianBootstrap, Progress
from armroot.rootfs.arch import ARM64

HOOKS = Hooks("/v/bin/python3", "/a cache", "aarch64-linux-gnu", "aarch64", "11:22", True)


def test_the_hooks_run_armroots_python_with_every_argument_quoted() -> None:
    start, stop = HOOKS.arguments()
    assert start.startswith("--essential-hook=") and stop.startswith("--customize-hook=")
    # mmdebstrap runs each as `sh -c COMMAND exec ROOT`: "$1" is the root.
    words = shlex.split(start.removeprefix("--essential-hook="))
    assert words == [
        "/v/bin/python3", "-m", "armroot.images.bootstrap_twins", "start", "$1",
        "/a cache", "aarch64-linux-gnu", "aarch64", "11:22", "verbose",
    ]  # fmt: skip
    assert shlex.split(stop.removeprefix("--customize-hook=")) == [
        "/v/bin/python3", "-m", "armroot.images.bootstrap_twins", "stop", "$1",
    ]  # fmt: skip
    quiet = HOOKS._replace(verbose=False).arguments()[0]
    assert not quiet.endswith("verbose") and quiet.endswith("11:22")


def test_mmdebstrap_starts_the_twins_after_and_stops_them_before_the_preconfiguration_hooks() -> (
    None
):
    plan = DebianBootstrap("trixie", ARM64, "http://mirror.invalid/debian", ("hello",), twins=HOOKS)
    argv = plan.argv(Path("/t"))
    assert argv[:4] == [sys.executable, "-m", "armroot.sandbox.own_userns", "--"]
    assert "--mode=unshare" not in argv  # root mode, as root of its own user namespace
    start, stop = HOOKS.arguments()
    at = argv.index("--include=hello")
    assert argv[at + 1 : at + 5] == [NO_PRECONFIGURE[0], start, stop, NO_PRECONFIGURE[1]]
    assert plan.own_userns
    # Nothing after the essential packages: no hooks, and mmdebstrap as before.
    bare = DebianBootstrap("trixie", ARM64, "http://mirror.invalid/debian", (), twins=HOOKS)
    assert not bare.own_userns
    assert bare.argv(Path("/t"))[:3] == ["unshare", "--mount", "--propagation=private"]
    assert not any("bootstrap_twins" in a for a in bare.argv(Path("/t")))
    plain = DebianBootstrap("trixie", ARM64, "http://mirror.invalid/debian", ("hello",))
    assert plain.argv(Path("/t"))[:3] == ["unshare", "--mount", "--propagation=private"]
    assert [a for a in plain.argv(Path("/t")) if "hook" in a] == list(NO_PRECONFIGURE)


def test_the_hook_refuses_armroots_own_namespaces_and_anything_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run where armroot itself runs (here: this test's namespaces), the hook mounts nothing
    and the bootstrap goes on emulated: one line, exit status 0."""
    (tmp_path / "run").mkdir()
    argv = ["start", str(tmp_path), str(tmp_path / "cache"), "aarch64-linux-gnu", "aarch64"]
    assert bootstrap_twins.main([*argv, namespaces()]) == 0
    said = capsys.readouterr().out
    assert said == (
        "armroot: the bootstrap's programs stay emulated: "
        "mmdebstrap runs in armroot's own namespaces\n"
    )
    assert list((tmp_path / "run").iterdir()) == [] and not (tmp_path / "cache").exists()
    user, mnt = namespaces().split(":")
    for outer in (f"{user}:1", f"1:{mnt}", "garbage", ""):
        assert bootstrap_twins._not_ours(outer) is not None, outer
    assert bootstrap_twins._not_ours("1:2") is None


def test_stop_without_twins_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without start's tmpfs, stop takes nothing away: not even a directory of that name
    (start removes its own when it fails before the mount)."""
    (tmp_path / "run").mkdir()
    assert bootstrap_twins.main(["stop", str(tmp_path)]) == 0
    (tmp_path / "run/armroot/x").mkdir(parents=True)
    assert bootstrap_twins.main(["stop", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "run/armroot/x").is_dir()
    assert bootstrap_twins.main(["bogus"]) == 2
    assert "bootstrap_twins stop ROOT" in capsys.readouterr().err


def test_progress_names_hooks_briefly_and_shows_the_twins_lines() -> None:
    progress = Progress()
    hook = (
        "I: running --essential-hook in shell: sh -c '/v/bin/python3 -m "
        'armroot.images.bootstrap_twins start "$1" ...\' exec /t'
    )
    assert progress.feed(hook, 10.0) == "I: running --essential-hook"
    line = "armroot: twins from here on: 3 programs of dash, sed native"
    assert progress.feed(line, 12.0) == "twins from here on: 3 programs of dash, sed native"
    assert progress.feed("armroot twins: /bin/sh: native twin /x/dash", 13.0) is None
    progress.feed("I: installing remaining packages inside the chroot...", 14.0)
    assert progress.timings(20.0) == (
        "running --essential-hook 4s, installing remaining packages inside the chroot 6s"
    )
