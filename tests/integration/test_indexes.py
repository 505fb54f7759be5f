"""The catalogue from the distributions' own indexes (issue 18, item 1), each served from
127.0.0.1 in its real format: Raspberry Pi Imager's OS list with several releases, Alpine's
latest-releases.yaml, Arch Linux ARM's tarball with its detached signature by a key the
test pins. The images are the fixtures of images_fixtures.py (a Debian armhf root)."""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import HostState, armroot, error_lines
from tests.index_formats import Image, latest_releases, os_list
from tests.integration.conftest import cache_dir
from tests.integration.images_fixtures import ImageFixtures, LocalServer, build, serve

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network]


@pytest.fixture(scope="module")
def fixtures(armhf_tarball: Path) -> ImageFixtures:
    return build(armhf_tarball, cache_dir())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _link(site: Path, rel: str, target: Path) -> Path:
    path = site / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def _publish_raspios(site: Path, base: str, images: list[Image], files: dict[str, Path]) -> None:
    """The images (each a file of ``files`` by date, with its .sha256 beside it) and the
    index that lists them."""
    for image in images:
        xz = _link(site, f"dl/{image.path()}", files[image.date])
        xz.with_name(xz.name + ".sha256").write_text(f"{_sha256(xz)}  {xz.name}\n")
    (site / "os_list.json").write_text(os_list(f"{base}/dl", images))


NEWEST = Image("2025-12-04", "trixie", "armhf", "", 0)
OLDER = Image("2025-05-13", "bookworm", "armhf", "", 0)
ARM64 = Image("2025-12-04", "trixie", "arm64", "b" * 64, 0, sha256="a" * 64)


class Site:
    def __init__(self, root: Path, server: LocalServer, fixtures: ImageFixtures) -> None:
        self.root, self.server, self.fixtures = root, server, fixtures
        self.env = {
            "ARMROOT_RASPIOS_INDEX": f"{server.url}/os_list.json",
            "ARMROOT_ALPINE_MIRROR": f"{server.url}/alpine",
            "ARMROOT_ARCHLINUXARM_MIRROR": f"{server.url}/os",
            "ARMROOT_KEY_ARCHLINUXARM": str(fixtures.signer),
        }

    def gets(self, suffix: str) -> list[str]:
        return [path for path, _ in self.server.requests if path.endswith(suffix)]


@pytest.fixture
def site(tmp_path: Path, fixtures: ImageFixtures) -> Iterator[Site]:
    root = tmp_path / "site"
    root.mkdir()
    other = tmp_path / "other.img.xz"  # what the mirror serves as the older release
    other.write_bytes(lzma.compress(os.urandom(1 << 20)))
    with serve(root) as server:
        good = fixtures.image_sha256
        # the older release's index names an image other than the one served
        _publish_raspios(
            root,
            server.url,
            [NEWEST._replace(extract_sha256=good), OLDER._replace(extract_sha256="0" * 64), ARM64],
            {NEWEST.date: fixtures.image_xz, OLDER.date: other},
        )
        rel = "alpine/latest-stable/releases/armv7"
        tar = _link(root, f"{rel}/alpine-minirootfs-3.22.2-armv7.tar.gz", fixtures.tarball)
        (root / rel / "latest-releases.yaml").write_text(
            latest_releases("armv7", "3.22.2", tar.name, _sha256(tar), tar.stat().st_size)
        )
        alarm = _link(root, f"os/{fixtures.tarball.name}", fixtures.tarball)
        _link(root, f"os/{fixtures.tarball.name}.sig", Path(f"{fixtures.tarball}.sig"))
        assert alarm.is_file()
        yield Site(root, server, fixtures)


def _env(home: Path, site: Site, **extra: str) -> dict[str, str]:
    return {**site.env, "ARMROOT_CACHE": str(home.parent / "cache"), **extra}


def _refused(home: Path, proc: subprocess.CompletedProcess[str], words: str) -> str:
    """One error line with ``words``; the env asked for not made, nothing half-made."""
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and words in lines[0], proc.stderr
    name = proc.args[proc.args.index("create") + 1]
    assert not (home / "envs" / name).exists()
    assert not (home / "staging").exists() or list((home / "staging").iterdir()) == []
    return lines[0]


def test_the_newest_release_by_default_an_older_one_by_name(home: Path, site: Site) -> None:
    before = HostState.now()
    env = _env(home, site)
    made = armroot("create", "rpi", "--from", "raspios:lite-armhf", home=home, env=env)
    assert made.returncode == 0, made.stderr
    assert site.gets(".img.xz") == [f"/dl/{NEWEST.path()}"]
    info = json.loads(armroot("info", "rpi", "--json", home=home, env=env).stdout)
    assert info["source"] == "raspios:lite-armhf"
    ran = armroot("run", "rpi", "--", "uname", "-m", home=home, env=env)
    assert ran.stdout.strip() == "armv7l"
    # the older release: chosen by codename, and its image is not the one the index names
    older = armroot("create", "old", "--from", "raspios:lite-armhf@bookworm", home=home, env=env)
    line = _refused(home, older, "is not the one the publisher's index names")
    assert "0" * 64 in line
    assert site.gets(".img.xz")[-1] == f"/dl/{OLDER.path()}"
    by_date = armroot(
        "create", "old", "--from", "raspios:lite-armhf@2025-05-13", home=home, env=env
    )
    _refused(home, by_date, "is not the one the publisher's index names")
    unknown = armroot("create", "x", "--from", "raspios:lite-armhf@buster", home=home, env=env)
    line = _refused(home, unknown, "the Raspberry Pi OS index has no such release")
    assert "@2025-12-04 (trixie), @2025-05-13 (bookworm)" in line
    assert len(site.gets("/os_list.json")) == 1  # read once, then the kept copy
    assert HostState.now() == before


def test_listing_refresh_and_offline(home: Path, site: Site) -> None:
    env = _env(home, site)
    listed = json.loads(armroot("images", "--json", home=home, env=env).stdout)
    by_id = {e["id"]: e for e in listed}
    assert by_id["raspios:lite-armhf"]["released"] == "2025-12-04"
    assert by_id["raspios:lite-armhf@2025-05-13"]["version"] == "bookworm"
    assert by_id["raspios:lite-arm64"]["verify"] == "sha256"  # the index gave its sha256
    assert by_id["alpine:armv7"]["version"] == "3.22.2"
    assert "OpenPGP signature" in by_id["archlinuxarm:rpi-armv7"]["verification"]
    text = armroot("images", home=home, env=env)
    assert "released: 2025-12-04" in text.stdout and "verified by: " in text.stdout
    # aarch64 and armhf Alpine indexes are not published here: a line says so for each
    warned = [w for w in text.stderr.splitlines() if w.startswith("warning: alpine:")]
    assert len(warned) == 2 and "404" in warned[0], text.stderr
    # the publisher releases a new image: the kept index serves until a refresh
    newer = Image("2026-01-20", "trixie", "armhf", site.fixtures.image_sha256, 0)
    _publish_raspios(site.root, site.server.url, [newer], {newer.date: site.fixtures.image_xz})
    stale = json.loads(armroot("images", "--json", home=home, env=env).stdout)
    assert {e["id"]: e for e in stale}["raspios:lite-armhf"]["released"] == "2025-12-04"
    fresh = json.loads(armroot("images", "--refresh", "--json", home=home, env=env).stdout)
    assert {e["id"]: e for e in fresh}["raspios:lite-armhf"]["released"] == "2026-01-20"
    # an error page where the index was: the last good copy stays, said with its time
    good = (site.root / "os_list.json").read_text()
    (site.root / "os_list.json").write_text("<html>captive portal</html>")
    broken = armroot("images", "--refresh", "--json", home=home, env=env)
    assert broken.returncode == 0 and "is not JSON" in broken.stderr
    assert "using Raspberry Pi Imager's OS list as fetched" in broken.stderr
    assert {e["id"]: e for e in json.loads(broken.stdout)}["raspios:lite-armhf"]["released"] == (
        "2026-01-20"
    )
    (site.root / "os_list.json").write_text(good)
    # the publisher unreachable: the last index read still serves, and says when it is from
    gone = {**env, "ARMROOT_RASPIOS_INDEX": "http://127.0.0.1:9/os_list.json"}
    cold = armroot("images", "--refresh", home=home, env=gone)
    assert cold.returncode == 0 and "cannot reach" in cold.stderr and "raspios" in cold.stderr
    kept = armroot("images", "--json", home=home, env=env)
    site.server.server.shutdown()
    site.server.server.server_close()
    offline = armroot("images", "--refresh", "--json", home=home, env=env)
    assert offline.returncode == 0
    assert "using Raspberry Pi Imager's OS list as fetched" in offline.stderr
    assert "using Alpine's latest-stable armv7 index as fetched" in offline.stderr
    assert json.loads(offline.stdout) == json.loads(kept.stdout)


def test_alpine_from_latest_releases(home: Path, site: Site) -> None:
    env = _env(home, site)
    made = armroot("create", "alp", "--from", "alpine:armv7", "--board", "pi3", home=home, env=env)
    assert made.returncode == 0, made.stderr
    assert site.gets("/alpine-minirootfs-3.22.2-armv7.tar.gz") != []
    assert armroot("run", "alp", "--", "uname", "-m", home=home, env=env).stdout.strip() == "armv7l"
    old = armroot("create", "old", "--from", "alpine:armv7@3.21", home=home, env=env)
    _refused(home, old, "cannot read Alpine's v3.21 armv7 index")


def test_arch_linux_arm_tampered_or_wrongly_signed_is_refused(
    home: Path, site: Site, tmp_path: Path
) -> None:
    before = HostState.now()
    cache = home.parent / "cache"
    env = _env(home, site)
    tarball = site.root / "os" / site.fixtures.tarball.name
    tarball.unlink()
    data = bytearray(site.fixtures.tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tarball.write_bytes(bytes(data))
    tampered = armroot("create", "a", "--from", "archlinuxarm:rpi-armv7", home=home, env=env)
    _refused(home, tampered, "is not signed by the key armroot pins for it")
    assert not list(cache.glob("downloads/*/*")) and not list(cache.rglob("*.part"))
    tarball.unlink()
    tarball.symlink_to(site.fixtures.tarball)
    sig = site.root / "os" / f"{site.fixtures.tarball.name}.sig"
    sig.unlink()
    sig.symlink_to(site.fixtures.wrong_sig)
    wrong = armroot("create", "a", "--from", "archlinuxarm:rpi-armv7", home=home, env=env)
    _refused(home, wrong, "is not signed by the key armroot pins for it")
    assert not list(cache.glob("downloads/*/*")) and not list(cache.rglob("*.part"))
    # the real pinned key (not the fixtures') refuses the fixtures' own signature too
    real = {k: v for k, v in env.items() if k != "ARMROOT_KEY_ARCHLINUXARM"}
    sig.unlink()
    sig.symlink_to(Path(f"{site.fixtures.tarball}.sig"))
    pinned = armroot("create", "a", "--from", "archlinuxarm:rpi-armv7", home=home, env=real)
    _refused(home, pinned, "is not signed by the key armroot pins for it")
    assert HostState.now() == before
    assert not [p for p in os.listdir("/tmp") if p.startswith("armroot-gpgv-")]
