from __future__ import annotations

from armroot.images.tarball import member_problem, normalize, through_symlink


def test_ordinary_members_are_fine() -> None:
    assert member_problem("usr/bin/sh") is None
    assert member_problem("etc/ssl/certs/x.pem", is_hardlink=True, link="etc/ssl/y.pem") is None


def test_absolute_and_dotdot_members_are_rejected() -> None:
    assert member_problem("/etc/passwd") == "has an absolute path"
    assert member_problem("usr/../../etc/passwd") == "has a '..' component"


def test_hard_links_leaving_the_root_are_rejected() -> None:
    assert "absolute" in (member_problem("x", is_hardlink=True, link="/etc/shadow") or "")
    assert "leaving" in (member_problem("x", is_hardlink=True, link="../../etc/shadow") or "")


def test_member_below_a_symlink_member_is_caught() -> None:
    links = {"escape", "lib"}
    assert through_symlink("escape/evil", links) == "escape"
    assert through_symlink("usr/lib/x", links) is None
    assert through_symlink("escape", links) is None


def test_normalize_strips_dot_slash() -> None:
    assert normalize("./usr/bin/") == "usr/bin"
    assert normalize("./") == "."
