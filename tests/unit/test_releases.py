"""The distributions' indexes read (releases.py), kept (indexes.py) and turned into catalogue
entries; OpenPGP packets read (host/openpgp.py). Indexes are written in their real formats
(tests/index_formats.py) straight into a kept copy: nothing is fetched here."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from armroot.errors import SourceError, UsageError
from armroot.host import openpgp
from armroot.images import catalogue, indexes, releases
from tests.index_formats import Image, latest_releases, os_list

BASE = "http://127.0.0.1:9/dl"
TRIXIE64 = Image("2025-12-04", "trixie", "arm64", "1" * 64, 500)
OLD_TRIXIE64 = Image("2025-10-01", "trixie", "arm64", "2" * 64, 480)
BOOKWORM64 = Image("2025-05-13", "bookworm", "arm64", "3" * 64, 440, sha256="8" * 64)
TRIXIE32 = Image("2025-12-04", "trixie", "armhf", "4" * 64, 470)
BOOKWORM32 = Image("2025-05-13", "bookworm", "armhf", "5" * 64, 430)
IMAGES = [TRIXIE64, BOOKWORM32, OLD_TRIXIE64, TRIXIE32, BOOKWORM64]
DATA = Path(__file__).parent.parent / "data" / "openpgp"


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache holding the indexes as a fetch would have kept them; the addresses point
    where nothing answers, so only the kept copies can serve."""
    monkeypatch.setenv("ARMROOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ARMROOT_RASPIOS_INDEX", f"{BASE}/os_list.json")
    monkeypatch.setenv("ARMROOT_ALPINE_MIRROR", f"{BASE}/alpine")
    monkeypatch.setenv("ARMROOT_ARCHLINUXARM_MIRROR", f"{BASE}/os")
    indexes._keep(f"{BASE}/os_list.json", os_list(BASE, IMAGES).encode())
    for arch, version in (("aarch64", "3.22.2"), ("armv7", "3.22.2"), ("armhf", "3.22.2")):
        file = f"alpine-minirootfs-{version}-{arch}.tar.gz"
        yaml = latest_releases(arch, version, file, "6" * 64, 4000000)
        indexes._keep(
            f"{BASE}/alpine/latest-stable/releases/{arch}/latest-releases.yaml", yaml.encode()
        )
    old = latest_releases(
        "aarch64", "3.21.5", "alpine-minirootfs-3.21.5-aarch64.tar.gz", "7" * 64, 1
    )
    indexes._keep(f"{BASE}/alpine/v3.21/releases/aarch64/latest-releases.yaml", old.encode())
    return tmp_path / "cache"


def test_the_os_list_gives_every_lite_release_newest_first() -> None:
    found = releases.raspios(os_list(BASE, IMAGES), "os_list.json")
    assert [(r.flavour, r.date) for r in found] == [
        ("lite-armhf", "2025-12-04"),
        ("lite-arm64", "2025-12-04"),
        ("lite-arm64", "2025-10-01"),
        ("lite-armhf", "2025-05-13"),
        ("lite-arm64", "2025-05-13"),
    ]  # the desktop image, the remote sublist and "Erase" are not Lite images
    newest = releases.pick(found, "lite-arm64", "")
    assert newest is not None and newest.extract_sha256 == TRIXIE64.extract_sha256
    assert newest.url == f"{BASE}/{TRIXIE64.path()}" and newest.version == "trixie"
    assert newest.devices == ("pi5-64bit", "pi4-64bit", "pi3-64bit")
    assert newest.sha256 == "" and newest.size == 500  # the list gives no download sha256
    by_name = releases.pick(found, "lite-armhf", "bookworm")
    assert by_name is not None and by_name.extract_sha256 == BOOKWORM32.extract_sha256
    by_date = releases.pick(found, "lite-arm64", "2025-05-13")
    assert by_date is not None and by_date.sha256 == "8" * 64  # where the list gives one
    assert releases.pick(found, "lite-arm64", "2024-01-01") is None


def test_damaged_indexes_say_so() -> None:
    with pytest.raises(SourceError, match="is not JSON"):
        releases.raspios("<html>", "os_list.json")
    with pytest.raises(SourceError, match="has no os_list"):
        releases.raspios("{}", "os_list.json")
    with pytest.raises(SourceError, match="lists no alpine-minirootfs"):
        releases.alpine("--- []\n", "x.yaml", "aarch64", "http://h/a")
    with pytest.raises(SourceError, match="no file or sha256"):
        bad = latest_releases("aarch64", "3.22.2", "a.tar.gz", "not-a-sha", 1)
        releases.alpine(bad, "x.yaml", "aarch64", "http://h/a")


def test_alpine_minirootfs_from_latest_releases() -> None:
    text = latest_releases(
        "aarch64", "3.22.2", "alpine-minirootfs-3.22.2-aarch64.tar.gz", "6" * 64, 9
    )
    got = releases.alpine(
        text, "x.yaml", "aarch64", "http://h/alpine/latest-stable/releases/aarch64"
    )
    assert got == releases.Release(
        "aarch64",
        "3.22.2",
        "2025-10-08",
        "http://h/alpine/latest-stable/releases/aarch64/alpine-minirootfs-3.22.2-aarch64.tar.gz",
        "6" * 64,
        9,
    )


def test_the_catalogue_from_kept_indexes(kept: Path) -> None:
    found = catalogue.catalogue("offline")
    assert found.problems == ()
    ids = [e.id for e in found.entries]
    assert ids[:6] == [
        "raspios:lite-arm64",
        "raspios:lite-arm64@2025-10-01",
        "raspios:lite-arm64@2025-05-13",
        "raspios:lite-armhf",
        "raspios:lite-armhf@2025-05-13",
        "alpine:aarch64",
    ]
    newest = found.entries[0]
    assert newest.released == "2025-12-04" and newest.version == "trixie"
    assert newest.verify == catalogue.SHA256_FILE and newest.checksum == newest.url + ".sha256"
    assert newest.extract_sha256 == TRIXIE64.extract_sha256
    assert newest.describe_verification() == (
        f"the download by the sha256 in {newest.url}.sha256; the image itself by sha256 "
        f"1111111111111111… from {BASE}/os_list.json"
    )
    assert "(trixie, 2025-12-04)" in newest.title
    old = found.entries[2]
    assert old.verify == catalogue.SHA256 and old.checksum == "8" * 64
    alarm = next(e for e in found.entries if e.id == "archlinuxarm:rpi-aarch64")
    assert alarm.verify == catalogue.OPENPGP and alarm.checksum == alarm.url + ".sig"
    assert alarm.url.startswith(f"{BASE}/os/") and alarm.released == ""
    assert "68B3537F39A313B3E574D06777193F152BDBE6A6" in alarm.describe_verification()


def test_lookups_pick_releases_and_unknown_ones_list_the_known(kept: Path) -> None:
    newest = catalogue.lookup("raspios:lite-arm64", "offline")
    assert newest.extract_sha256 == TRIXIE64.extract_sha256
    named = catalogue.lookup("raspios:lite-armhf@bookworm", "offline")
    assert named.extract_sha256 == BOOKWORM32.extract_sha256
    picked = catalogue.lookup("raspios:lite-arm64@2025-05-13", "offline")
    assert picked.checksum == BOOKWORM64.sha256 and picked.id == "raspios:lite-arm64@2025-05-13"
    with pytest.raises(UsageError) as unknown:
        catalogue.lookup("raspios:lite-arm64@buster", "offline")
    assert unknown.value.one_line() == (
        "raspios:lite-arm64@buster: the Raspberry Pi OS index has no such release: it lists "
        "@2025-12-04 (trixie), @2025-10-01 (trixie), @2025-05-13 (bookworm) for raspios:lite-arm64"
    )
    assert catalogue.lookup("alpine:aarch64@3.21", "offline").version == "3.21.5"
    assert catalogue.lookup("alpine:aarch64@3.21.5", "offline").checksum == "7" * 64
    with pytest.raises(UsageError, match=r"offers 3\.21\.5 only"):
        catalogue.lookup("alpine:aarch64@3.21.4", "offline")
    with pytest.raises(UsageError, match="chosen by version"):
        catalogue.lookup("alpine:aarch64@edge", "offline")
    with pytest.raises(UsageError) as alarm:
        catalogue.lookup("archlinuxarm:rpi-armv7@2024-01-01", "offline")
    assert "publishes only its latest tarball" in alarm.value.one_line()
    with pytest.raises(UsageError) as typo:
        catalogue.lookup("raspios:lite-arm46", "offline")
    assert typo.value.hint == "did you mean raspios:lite-arm64 or raspios:lite-armhf?"
    with pytest.raises(SourceError, match="--offline forbids fetching"):
        catalogue.lookup("alpine:aarch64@3.20", "offline")


def test_an_index_kept_whole_or_not_at_all(kept: Path) -> None:
    url = f"{BASE}/os_list.json"
    copy = indexes.kept(url)
    assert copy is not None and copy.text.startswith("{")
    assert datetime.datetime.now(datetime.UTC) - copy.fetched < datetime.timedelta(minutes=5)
    body, _ = indexes._paths(url)
    body.write_bytes(body.read_bytes() + b"tampered")
    assert indexes.kept(url) is None  # its recorded sha256 no longer matches
    freed = indexes.clean()
    assert freed > 0 and not kept.joinpath(indexes.DIR).exists()
    found = catalogue.catalogue("offline")
    assert [p.split(": ", 1)[0] for p in found.problems] == [
        "raspios",
        "alpine:aarch64",
        "alpine:armv7",
        "alpine:armhf",
    ]
    assert "no copy of Raspberry Pi Imager's OS list is kept" in found.problems[0]
    assert [e.id.split(":")[0] for e in found.entries][:2] == ["archlinuxarm", "archlinuxarm"]


def test_a_signature_packet_says_when_and_by_whom() -> None:
    info = openpgp.signature_info((DATA / "hello.txt.sig").read_bytes())
    assert info.issuer == "98C81F512B5AD95A5B774590E69AD2762E56CAB2"
    assert info.created.date() == datetime.date(2026, 12, 1)
    assert openpgp.fingerprints((DATA / "signer.asc").read_bytes()) == [info.issuer]
    assert openpgp.fingerprints(openpgp.dearmor((DATA / "signer.asc").read_text())) == [info.issuer]
    with pytest.raises(SourceError, match="not an OpenPGP signature"):
        openpgp.signature_info(b"<html>not found</html>")
    with pytest.raises(SourceError, match="not an OpenPGP signature"):
        openpgp.signature_info((DATA / "hello.txt.sig").read_bytes()[:40])


def test_keys_bound_only_by_sha1_are_found() -> None:
    """sha1-bound.gpg: a key made with --cert-digest-algo SHA1, as the Raspberry Pi
    archive's older keyring packages were; apt 3's sqv refuses it since 2026-02-01."""
    weak = (DATA / "sha1-bound.gpg").read_bytes()
    assert openpgp.sha1_bound(weak) == openpgp.fingerprints(weak) != []
    assert openpgp.sha1_bound((DATA / "signer.asc").read_bytes()) == []
    alarm, _ = catalogue.pinned_key("archlinuxarm")
    assert openpgp.sha1_bound(alarm) == []  # the build key's self-signatures use SHA-512


def test_a_legacy_image_of_the_same_date_is_neither_the_default_nor_a_date_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Imager lists "Raspberry Pi OS (Legacy) Lite" (oldstable) beside the current Lite
    image, often with the same date: the newer Debian release is the default, and the two
    are told apart by date and codename."""
    monkeypatch.setenv("ARMROOT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ARMROOT_RASPIOS_INDEX", f"{BASE}/os_list.json")
    legacy = Image("2025-10-01", "bookworm", "arm64", "9" * 64, 1)
    current = Image("2025-10-01", "trixie", "arm64", "a" * 64, 1)
    text = os_list(BASE, [legacy, current])
    text = text.replace("raspios_lite_arm64/images/raspios_lite_arm64-2025-10-01/2025-10-01-"
                        "raspios-bookworm", "raspios_oldstable_lite_arm64/images/raspios_"
                        "oldstable_lite_arm64-2025-10-01/2025-10-01-raspios-bookworm")  # fmt: skip
    found = releases.raspios(text, "os_list.json")
    assert [r.version for r in found] == ["trixie", "bookworm"]
    indexes._keep(f"{BASE}/os_list.json", text.encode())
    ids = [e.id for e in catalogue.catalogue("offline").entries if e.id.startswith("raspios")]
    assert ids == ["raspios:lite-arm64", "raspios:lite-arm64@2025-10-01-bookworm"]
    assert catalogue.lookup("raspios:lite-arm64", "offline").version == "trixie"
    old = catalogue.lookup("raspios:lite-arm64@2025-10-01-bookworm", "offline")
    assert old.version == "bookworm" and "oldstable" in old.url


def test_index_overrides_must_be_https_or_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARMROOT_ALPINE_MIRROR", "http://mirror.example.invalid/alpine")
    with pytest.raises(UsageError) as plain:
        catalogue.address("alpine")
    assert "not an https URL" in plain.value.one_line()
    monkeypatch.setenv("ARMROOT_ALPINE_MIRROR", "file:///srv/alpine")
    with pytest.raises(UsageError):
        catalogue.address("alpine")
    for fine in ("https://mirror.example.invalid/alpine/", "http://127.0.0.1:8080/alpine"):
        monkeypatch.setenv("ARMROOT_ALPINE_MIRROR", fine)
        assert catalogue.address("alpine") == fine.rstrip("/")
    monkeypatch.setenv("ARMROOT_KEY_ARCHLINUXARM", "/srv/other.asc")
    alarm = catalogue._alarm(catalogue.FLAVOURS[5])
    assert "a key in /srv/other.asc (ARMROOT_KEY_ARCHLINUXARM, not the pinned key)" in (
        alarm.describe_verification()
    )


def test_damaged_armor_is_an_error_not_a_traceback() -> None:
    armored = (DATA / "signer.asc").read_text()
    both = armored + (DATA / "other.asc").read_text()
    assert len(openpgp.fingerprints(openpgp.dearmor(both))) == 2  # every block kept
    lines = armored.splitlines()
    lines[3] = lines[3][:10] + "!!" + lines[3][12:]
    with pytest.raises(SourceError, match="armor block is damaged"):
        openpgp.dearmor("\n".join(lines))
