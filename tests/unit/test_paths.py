from __future__ import annotations

import os
from pathlib import Path

import pytest

from armroot.errors import SandboxError
from armroot.rootfs.paths import is_within, resolve_in_root


def test_absolute_symlink_is_resolved_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "run/systemd/resolve").mkdir(parents=True)
    os.symlink("/run/systemd/resolve/stub-resolv.conf", root / "etc/resolv.conf")
    assert (
        resolve_in_root(root, "/etc/resolv.conf") == root / "run/systemd/resolve/stub-resolv.conf"
    )


def test_relative_symlink_cannot_climb_above_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("../../../../../../etc/passwd", root / "etc/link")
    assert resolve_in_root(root, "/etc/link") == root / "etc/passwd"


def test_directory_symlinks_like_usr_bin_to_host_stay_in_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr").mkdir(parents=True)
    os.symlink("/usr/bin", root / "usr/bin2")
    os.symlink("/dev", root / "devlink")
    assert resolve_in_root(root, "/usr/bin2/sh") == root / "usr/bin/sh"
    assert resolve_in_root(root, "/devlink/null") == root / "dev/null"


def test_missing_components_are_kept_lexically(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert resolve_in_root(root, "/a/b/../c") == root / "a/c"


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("/b", root / "a")
    os.symlink("/a", root / "b")
    with pytest.raises(SandboxError, match="too many levels"):
        resolve_in_root(root, "/a/x")


def test_is_within_matches_path_components_not_prefixes() -> None:
    assert is_within(Path("/store/envs/pi"), Path("/store/envs/pi/rootfs/proc"))
    assert is_within(Path("/store/envs/pi"), Path("/store/envs/pi"))
    assert not is_within(Path("/store/envs/pi"), Path("/store/envs/pi2/rootfs"))


def test_regression_a_path_through_a_regular_file_resolves_inside_the_root(
    tmp_path: Path,
) -> None:
    """Found by test_fuzz_image_root (a root whose /etc is a file): resolving /etc/fstab
    raised NotADirectoryError instead of naming a path that does not exist."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").write_text("not a directory\n")
    assert resolve_in_root(root, "/etc/fstab") == root / "etc/fstab"
    assert resolve_in_root(root, "/etc/../../x") == root / "x"
