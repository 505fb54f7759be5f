from __future__ import annotations

from pathlib import Path

from armroot.host import mountinfo

SAMPLE = (
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    "90 27 0:50 / /store/envs/pi/rootfs/mnt\\040x rw - tmpfs tmpfs rw\n"
    "91 27 0:51 / /store/envs/pi2/rootfs rw - tmpfs tmpfs rw\n"
)


def test_parse_unescapes_octal() -> None:
    entries = mountinfo.parse(SAMPLE)
    assert entries[1].mount_point == "/store/envs/pi/rootfs/mnt x"
    assert entries[1].fstype == "tmpfs"


def test_mounts_under_matches_whole_components() -> None:
    entries = mountinfo.parse(SAMPLE)
    found = mountinfo.mounts_under(Path("/store/envs/pi"), entries)
    assert [e.mount_id for e in found] == [90]
