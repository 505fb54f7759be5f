"""Rootless checks: /etc/subuid parsing, the id maps, and what blocks user namespaces."""

from __future__ import annotations

from pathlib import Path

from armroot.host import privileges, userns
from armroot.host.userns import Identity, IdRange


def test_parse_subids_by_name_or_uid_first_entry_wins() -> None:
    text = "alice:100000:65536\n# comment\nbob:165536:65536\n1002:231072:65536\nbob:1:2\n"
    assert userns.parse_subids(text, "bob", 1001) == IdRange(165536, 65536)
    assert userns.parse_subids(text, "carol", 1002) == IdRange(231072, 65536)
    assert userns.parse_subids(text, "dave", 1003) is None
    assert userns.parse_subids("eve:x:65536\neve:5:0\n", "eve", 1004) is None


def test_id_map_maps_root_to_the_user_and_the_rest_to_the_range() -> None:
    assert userns.id_map(1001, IdRange(100000, 65536)) == [
        "0",
        "1001",
        "1",
        "1",
        "100000",
        "65536",
    ]


def test_free_start_suggests_a_range_after_every_existing_one() -> None:
    assert userns.free_start("") == 100000
    assert userns.free_start("a:100000:65536\n", "b:300000:10\n") == 300010


def _proc(tmp_path: Path, **values: str) -> Path:
    for name, value in values.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return tmp_path


def test_namespace_blocker_names_the_sysctl(tmp_path: Path) -> None:
    ok = _proc(tmp_path / "ok", sys__user__max_user_namespaces="15000")
    assert userns.namespace_blocker(ok) is None
    off = _proc(tmp_path / "off", sys__user__max_user_namespaces="0")
    blocker = userns.namespace_blocker(off)
    assert blocker is not None and "user.max_user_namespaces = 0" in blocker.what
    debian = _proc(tmp_path / "deb", sys__kernel__unprivileged_userns_clone="0")
    blocker = userns.namespace_blocker(debian)
    assert blocker is not None and "kernel.unprivileged_userns_clone" in blocker.hint
    ubuntu = _proc(tmp_path / "ubu", sys__kernel__apparmor_restrict_unprivileged_userns="1")
    blocker = userns.namespace_blocker(ubuntu)
    assert blocker is not None and "AppArmor" in blocker.what and "Ubuntu 24.04" in blocker.what
    allowed = _proc(tmp_path / "ubu0", sys__kernel__apparmor_restrict_unprivileged_userns="0")
    assert userns.namespace_blocker(allowed) is None


def test_range_blocker(tmp_path: Path) -> None:
    assert userns.range_blocker("uid", "u:100000:65536\n", "u", 1000) is None
    missing = userns.range_blocker("uid", None, "u", 1000)
    assert missing is not None and "/etc/subuid is missing" in missing.what
    absent = userns.range_blocker("gid", "v:100000:65536\n", "u", 1000, start=165536)
    assert absent is not None and absent.what == "/etc/subgid has no range for u"
    assert absent.hint == ("sudo usermod --add-subuids 165536-231071 --add-subgids 165536-231071 u")
    small = userns.range_blocker("uid", "u:100000:1000\n", "u", 1000)
    assert small is not None and "only 1000 uids" in small.what


def test_blockers_lists_every_missing_piece_in_order(tmp_path: Path) -> None:
    proc = _proc(tmp_path / "proc", sys__user__max_user_namespaces="0")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "subuid").write_text("u:100000:65536\n")
    found = userns.blockers(Identity("u", 1000, 1000), proc=proc, etc=etc)
    whats = [b.what for b in found]
    assert whats[0].startswith("user namespaces are disabled")
    assert "/etc/subgid is missing or unreadable: u has no subordinate gids" in whats
    assert not any(w.startswith("/etc/subuid") for w in whats)


def test_helper_blocker(tmp_path: Path) -> None:
    missing = userns.helper_blocker("newuidmap", None)
    assert missing is not None and "apt-get install uidmap" in missing.hint
    plain = tmp_path / "newuidmap"
    plain.write_text("")
    plain.chmod(0o755)
    unprivileged = userns.helper_blocker("newuidmap", str(plain))
    assert unprivileged is not None and "neither setuid root" in unprivileged.what


def test_cap_sys_admin_is_read_from_the_effective_set() -> None:
    full = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"
    assert privileges.has_sys_admin(full)
    dropped = "CapEff:\t000001ffffdfffff\n"  # bit 21 cleared
    assert not privileges.has_sys_admin(dropped)
    assert not privileges.has_sys_admin("")
