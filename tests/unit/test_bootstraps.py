"""Cached bootstraps' keys, records and checks (armroot.images.bootstraps), the packer's
command line and the metadata member armroot's extraction takes out (armroot.images)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from armroot.images import bootstraps, pack, tarball
from armroot.images.bootstraps import Entry, Key, Release

MIRROR = "http://mirror.invalid/debian"
RELEASE_TEXT = "Origin: Debian\nSuite: stable\nDate: Sat, 08 Nov 2026 10:00:00 UTC\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ARMROOT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _key(**changes: object) -> Key:
    fields: dict[str, object] = {
        "suite": "trixie",
        "arch": "arm64",
        "variant": "apt",
        "include": ("cmake", "build-essential", "ca-certificates"),
        "mirror": MIRROR,
    }
    fields.update(changes)
    return Key.of(**fields)  # type: ignore[arg-type]


def test_the_key_is_what_made_the_root_whatever_the_include_order() -> None:
    assert _key().include == ("build-essential", "ca-certificates", "cmake")
    assert _key(include=("cmake", "cmake", "ca-certificates", "build-essential")) == _key()
    assert _key(mirror=MIRROR + "/") == _key()
    digests = {
        _key().digest(),
        _key(include=("build-essential",)).digest(),
        _key(suite="bookworm").digest(),
        _key(arch="armhf").digest(),
        _key(variant="minbase").digest(),
        _key(mirror="http://other.invalid/debian").digest(),
    }
    assert len(digests) == 6
    assert _key().describe() == "Debian trixie arm64 (apt + build-essential,ca-certificates,cmake)"


def test_a_release_is_its_text_and_date() -> None:
    release = Release.parse(RELEASE_TEXT)
    assert release.sha256 == hashlib.sha256(RELEASE_TEXT.encode()).hexdigest()
    assert release.date == "Sat, 08 Nov 2026 10:00:00 UTC"
    assert Release.parse(RELEASE_TEXT + "Valid-Until: x\n") != release


def _entry(cache: Path, body: bytes, release: Release | None = None) -> Entry:
    release = release or Release.parse(RELEASE_TEXT)
    entry = Entry(
        _key(), release, hashlib.sha256(body).hexdigest(), len(body), "2026-12-01T10:00:00", "1"
    )
    entry.tarball.parent.mkdir(parents=True, exist_ok=True)
    entry.tarball.write_bytes(body)
    entry.record.write_text(entry.to_json())
    return entry


def test_records_round_trip_and_lookup_by_release(cache: Path) -> None:
    entry = _entry(cache, b"root" * 100)
    assert entry.tarball.is_relative_to(cache / "bootstraps")
    assert Entry.from_json(entry.to_json()) == entry
    assert bootstraps.lookup(_key(), entry.release) == entry
    assert bootstraps.lookup(_key(), None) == entry  # --offline: the newest, any Release
    assert bootstraps.lookup(_key(), Release.parse(RELEASE_TEXT + "x: y\n")) is None
    assert bootstraps.lookup(_key(suite="bookworm"), None) is None
    assert bootstraps.entries() == [entry]
    (entry.record.parent / "broken.json").write_text("{not json")
    assert bootstraps.entries() == [entry]


def test_a_truncated_altered_or_missing_tarball_is_found(cache: Path) -> None:
    body = bytes(range(256)) * 64
    entry = _entry(cache, body)
    assert bootstraps.intact(entry) is None
    entry.tarball.write_bytes(body[:-1])
    assert "truncated" in (bootstraps.intact(entry) or "")
    entry.tarball.write_bytes(body[:100] + b"\xff" + body[101:])
    assert "sha256" in (bootstraps.intact(entry) or "")
    entry.tarball.unlink()
    assert bootstraps.intact(entry) == "its tarball is missing"


def test_clean_drops_every_bootstrap_and_counts_its_bytes(cache: Path) -> None:
    entry = _entry(cache, b"x" * 1000)
    (entry.tarball.parent / ".abc.tar.zst.partial").write_bytes(b"y" * 10)
    assert bootstraps.clean() == 1010
    assert bootstraps.entries() == []
    assert not entry.tarball.exists()
    assert bootstraps.clean() == 0


def test_the_packer_keeps_owners_links_xattrs_acls_and_puts_metadata_first() -> None:
    args = pack.argv(Path("/r"), Path("/o.tar.zst"), pack.ZSTD, Path("/m"))
    assert args[:6] == [
        "tar",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "--acls",
        "--one-file-system",
    ]
    assert args[6:] == [
        "--use-compress-program=zstd -T0 -3 -q",
        "-cpf",
        "/o.tar.zst",
        "-C",
        "/m",
        pack.META_MEMBER,
        "-C",
        "/r",
        ".",
    ]
    assert pack.argv(Path("/r"), Path("/o.tar.gz"), pack.AUTO, None)[6:] == [
        "--auto-compress",
        "-cpf",
        "/o.tar.gz",
        "-C",
        "/r",
        ".",
    ]


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_metadata_member_is_read_not_extracted(tmp_path: Path) -> None:
    archive = tmp_path / "env.tar"
    archive.write_bytes(_tar({pack.META_MEMBER: b'{"name": "a"}', "./etc/hostname": b"pi\n"}))
    target = tmp_path / "root"
    target.mkdir()
    report = tarball.extract(archive, target)
    assert report.meta == b'{"name": "a"}'
    assert sorted(p.name for p in target.iterdir()) == ["etc"]
    # Deeper down, it is an ordinary file of the root.
    archive.write_bytes(_tar({"./etc/" + pack.META_MEMBER: b"{}", "./etc/x": b""}))
    other = tmp_path / "other"
    other.mkdir()
    assert tarball.extract(archive, other).meta is None
    assert (other / "etc" / pack.META_MEMBER).read_bytes() == b"{}"


MMDEBSTRAP = """\
I: running apt-get update...
Get:1 http://mirror.invalid/debian trixie InRelease [140 kB]
I: downloading packages with apt...
0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.
Fetched 30.3 MB in 4s (7 MB/s)
I: installing essential packages...
Unpacking libc6:arm64 (2.41-12) ...
Unpacking mawk (1.3.4) ...
Setting up libc6:arm64 (2.41-12) ...
W: Unable to read /r/tmp/mmdebstrap.apt.conf.x - RealFileExists (2: No such file or directory)
Setting up mawk (1.3.4) ...
I: installing remaining packages inside the chroot...
0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.
Unpacking hello (2.10-5) ...
Setting up hello (2.10-5) ...
W: something mmdebstrap says
I: success in 60.1 seconds
"""


def test_bootstrap_progress_counts_packages_and_times_phases() -> None:
    from armroot.images.debian import Progress

    progress = Progress()
    shown = []
    for now, line in enumerate(MMDEBSTRAP.splitlines()):
        if (out := progress.feed(line, float(now * 10))) is not None:
            shown.append(out)
        if line.startswith("Setting up mawk"):
            assert (progress.configured, progress.planned) == (2, 2)
            assert progress.current == "setting up mawk"
    assert (progress.planned, progress.unpacked, progress.configured) == (3, 3, 3)
    assert shown == [
        "I: running apt-get update...",
        "I: downloading packages with apt...",
        "fetched 30.3 MB in 4s (7 MB/s)",
        "I: installing essential packages...",
        "I: installing remaining packages inside the chroot...",
        "W: something mmdebstrap says",
        "I: success in 60.1 seconds",
    ]
    assert progress.timings(170.0) == (
        "running apt-get update 20s, downloading packages with apt 30s, "
        "installing essential packages 60s, installing remaining packages inside the chroot 60s"
    )
