"""Images: catalogue entries, URLs and files, served from 127.0.0.1; faults of downloads and
disk images (faults.md 1-3, 13-16). Fixtures are built from a real Debian armhf root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import HostState, armroot, error_lines
from tests.integration.conftest import cache_dir
from tests.integration.images_fixtures import ImageFixtures, LocalServer, build, serve

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network]


@pytest.fixture(scope="session")
def fixtures(armhf_tarball: Path) -> ImageFixtures:
    return build(armhf_tarball, cache_dir())


@pytest.fixture
def server(fixtures: ImageFixtures) -> Iterator[LocalServer]:
    with serve(fixtures.folder) as srv:
        yield srv


@pytest.fixture
def cat_env(tmp_path: Path, server: LocalServer, fixtures: ImageFixtures) -> dict[str, str]:
    """Arch Linux ARM's tarballs from the local server, signed by the fixtures' key, which
    stands in for the pinned build key; a cache of its own."""
    return {
        "ARMROOT_ARCHLINUXARM_MIRROR": server.url,
        "ARMROOT_KEY_ARCHLINUXARM": str(fixtures.signer),
        "ARMROOT_CACHE": str(tmp_path / "cache"),
    }


def _gets(server: LocalServer, name: str) -> list[str | None]:
    return [rng for path, rng in server.requests if path == f"/{name}"]


def _assert_clean_failure(home: Path, proc: object, words: str) -> None:
    assert proc.returncode != 0  # type: ignore[attr-defined]
    lines = error_lines(proc.stderr)  # type: ignore[attr-defined]
    assert len(lines) == 1 and words in lines[0], proc.stderr  # type: ignore[attr-defined]
    for sub in ("envs", "staging"):
        assert not (home / sub).exists() or list((home / sub).iterdir()) == []


def test_catalogue_tarball_downloads_once_and_runs(
    home: Path, server: LocalServer, cat_env: dict[str, str], fixtures: ImageFixtures
) -> None:
    before = HostState.now()
    first = armroot("create", "alarm", "--from", "archlinuxarm:rpi-armv7", home=home, env=cat_env)
    assert first.returncode == 0, first.stderr
    assert len(_gets(server, fixtures.tarball.name)) == 1
    assert "archlinuxarm.gpg in the root holds the same key" in first.stderr
    proc = armroot("run", "alarm", "--", "uname", "-m", home=home, env=cat_env)
    assert proc.stdout.strip() == "armv7l"
    info = json.loads(armroot("info", "alarm", "--json", home=home, env=cat_env).stdout)
    assert info["source"] == "archlinuxarm:rpi-armv7" and len(info["source_sha256"]) == 64
    second = armroot("create", "alarm2", "--from", "archlinuxarm:rpi-armv7", home=home, env=cat_env)
    assert second.returncode == 0, second.stderr
    assert len(_gets(server, fixtures.tarball.name)) == 1  # nothing downloaded again
    assert len(_gets(server, fixtures.tarball.name + ".sig")) == 1  # the kept signature vouched
    listing = json.loads(armroot("cache", "list", "--json", home=home, env=cat_env).stdout)
    assert [d["name"] for d in listing["downloads"]] == [fixtures.tarball.name]
    assert armroot("cache", "clean", home=home, env=cat_env).returncode == 0
    listing = json.loads(armroot("cache", "list", "--json", home=home, env=cat_env).stdout)
    assert listing == {"downloads": [], "partial": [], "bootstraps": []}
    assert HostState.now() == before


def test_a_board_the_image_does_not_support(home: Path, cat_env: dict[str, str]) -> None:
    proc = armroot(
        "create",
        "z",
        "--from",
        "archlinuxarm:rpi-armv7",
        "--board",
        "pi-zero",
        home=home,
        env=cat_env,
    )
    _assert_clean_failure(home, proc, "does not run on pi-zero")


def test_download_resumes_after_the_connection_drops(
    home: Path, server: LocalServer, cat_env: dict[str, str], fixtures: ImageFixtures
) -> None:
    name = fixtures.tarball.name
    server.break_once(f"/{name}", after=8 * 2**20)
    first = armroot("create", "alarm", "--from", "archlinuxarm:rpi-armv7", home=home, env=cat_env)
    _assert_clean_failure(home, first, "broke off")
    assert "resumes" in first.stderr
    partial = list((Path(cat_env["ARMROOT_CACHE"]) / "partial").glob("*.part"))
    assert len(partial) == 1 and partial[0].stat().st_size == 8 * 2**20
    assert not (Path(cat_env["ARMROOT_CACHE"]) / "downloads").exists() or not list(
        (Path(cat_env["ARMROOT_CACHE"]) / "downloads").glob("*/*")
    )
    second = armroot("create", "alarm", "--from", "archlinuxarm:rpi-armv7", home=home, env=cat_env)
    assert second.returncode == 0, second.stderr
    assert _gets(server, name)[-1] == f"bytes={8 * 2**20}-"


def test_checksum_mismatch_is_refused_and_nothing_is_kept(
    home: Path, server: LocalServer, tmp_path: Path, fixtures: ImageFixtures
) -> None:
    cache = tmp_path / "cache"
    proc = armroot(
        "create",
        "bad",
        "--from",
        f"{server.url}/{fixtures.image_xz.name}",
        "--sha256",
        "0" * 64,
        home=home,
        env={"ARMROOT_CACHE": str(cache)},
    )
    _assert_clean_failure(home, proc, "failed verification: expected sha256 " + "0" * 64)
    assert "got " in proc.stderr
    assert not list(cache.rglob("*.part")) and not list(cache.glob("downloads/*/*"))


def test_url_without_a_known_checksum_needs_an_explicit_choice(
    home: Path, server: LocalServer, tmp_path: Path, fixtures: ImageFixtures
) -> None:
    url = f"{server.url}/{fixtures.image_zip.name}"
    env = {"ARMROOT_CACHE": str(tmp_path / "cache")}
    refused = armroot("create", "z", "--from", url, home=home, env=env)
    _assert_clean_failure(home, refused, "no checksum is known")
    assert "--sha256" in refused.stderr and "--no-verify" in refused.stderr
    unreachable = armroot(
        "create", "z", "--from", "http://127.0.0.1:9/x.tar.gz", "--no-verify", home=home, env=env
    )
    _assert_clean_failure(home, unreachable, "cannot reach http://127.0.0.1:9/x.tar.gz")


def test_disk_image_xz_from_a_url_with_boot_files_and_preload_quirk(
    home: Path, server: LocalServer, tmp_path: Path, fixtures: ImageFixtures
) -> None:
    before = HostState.now()
    url = f"{server.url}/{fixtures.image_xz.name}"
    created = armroot(
        "create",
        "rpi",
        "--from",
        url,
        "--board",
        "pi2",
        home=home,
        env={"ARMROOT_CACHE": str(tmp_path / "cache")},
    )
    assert created.returncode == 0, created.stderr
    rootfs = home / "envs/rpi/rootfs"
    assert (rootfs / "boot/firmware/config.txt").read_text() == "arm_64bit=0\n"
    assert (rootfs / "boot/firmware/overlays/README").is_file()
    preload = (rootfs / "etc/ld.so.preload").read_bytes()
    proc = armroot(
        "run", "rpi", "--", "sh", "-c", "uname -m; cat /etc/ld.so.preload | wc -c", home=home
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["armv7l", "0"]
    assert "preload" not in proc.stderr
    assert (rootfs / "etc/ld.so.preload").read_bytes() == preload
    su = (rootfs / "usr/bin/su").stat()  # owners and the setuid bit survive the image
    assert su.st_mode & 0o4000 and su.st_uid == 0
    assert HostState.now() == before


def test_zip_holding_an_image(home: Path, fixtures: ImageFixtures) -> None:
    created = armroot("create", "z", "--from", str(fixtures.image_zip), home=home)
    assert created.returncode == 0, created.stderr
    proc = armroot("run", "z", "--", "cat", "/boot/firmware/cmdline.txt", home=home)
    assert "root=PARTUUID=4e639091-02" in proc.stdout


def test_image_with_no_linux_partition(home: Path, fixtures: ImageFixtures) -> None:
    before = HostState.now()
    proc = armroot("create", "n", "--from", str(fixtures.no_linux), home=home)
    _assert_clean_failure(home, proc, "no Linux partition (partitions found: #1 FAT")
    assert HostState.now() == before


def test_truncated_image(home: Path, fixtures: ImageFixtures) -> None:
    proc = armroot("create", "t", "--from", str(fixtures.truncated), home=home)
    _assert_clean_failure(home, proc, "runs past the end of the image")


def test_corrupt_xz_image(home: Path, fixtures: ImageFixtures, tmp_path: Path) -> None:
    data = bytearray(fixtures.image_xz.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 65536] = os.urandom(65536)
    bad = tmp_path / "bad.img.xz"
    bad.write_bytes(bytes(data))
    proc = armroot("create", "c", "--from", str(bad), home=home)
    _assert_clean_failure(home, proc, "xz stream is corrupt")


def test_export_makes_a_tarball_armroot_can_import(
    home: Path, fixtures: ImageFixtures, tmp_path: Path
) -> None:
    assert armroot("create", "src", "--from", str(fixtures.tarball), home=home).returncode == 0
    out = tmp_path / "exported.tar.zst"
    proc = armroot("export", "src", "--tar", str(out), home=home)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10 * 2**20 and not list(tmp_path.glob(".*.partial"))
    again = armroot("create", "copy", "--from", str(out), home=home)
    assert again.returncode == 0, again.stderr
    assert armroot("run", "copy", "--", "uname", "-m", home=home).stdout.strip() == "armv7l"


RENAME_STATE = (
    "getent passwd 1000 | cut -d: -f1; "
    "test -e /var/lib/armroot-userconf-ran && echo renamed || echo not-renamed; "
    "test -L /etc/systemd/system/multi-user.target.wants/userconfig.service && echo armed"
)


def test_a_raspios_trixie_style_image_keeps_its_first_boot_and_installs_over_deb822(
    home: Path, fixtures: ImageFixtures
) -> None:
    """The image as Raspberry Pi OS trixie ships: apt sources in deb822 form (sources.list
    empty), the first-boot rename armed (userconfig.service enabled, a uid-1000 user), the
    libarmmem preload. Sessions leave the rename to the Pi's first boot; `armroot install`
    works against the (tests' own) archive the .sources names; an archive key bound only by
    SHA-1, which apt 3 refuses, is one line naming that."""
    before = HostState.now()
    created = armroot("create", "rpi", "--from", str(fixtures.image_xz), home=home)
    assert created.returncode == 0, created.stderr
    rootfs = home / "envs/rpi/rootfs"
    preload = (rootfs / "etc/ld.so.preload").read_bytes()
    with serve(fixtures.folder) as server:
        point = f"sed -i 's#http://127.0.0.1:9/debian/#{server.url}/archive/#' $0"
        sources = "/etc/apt/sources.list.d/raspi.sources"
        assert armroot("run", "rpi", "--", "sh", "-c", point, sources, home=home).returncode == 0
        shell = subprocess.run(
            [sys.executable, "-m", "armroot", "shell", "rpi"],
            input="id -un 1000; exit\n",
            capture_output=True,
            text=True,
            env={**os.environ, "ARMROOT_HOME": str(home)},
            timeout=300,
        )
        assert shell.returncode == 0 and shell.stdout.split() == ["pi"], shell.stderr
        login = armroot("run", "rpi", "--", "sh", "-lc", RENAME_STATE, home=home)
        assert login.stdout.split() == ["pi", "not-renamed", "armed"], login.stderr
        installed = armroot("install", "rpi", "armroot-rpi-probe", home=home, timeout=900)
        assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
        hello = armroot("run", "rpi", "--", "cat", "/usr/share/armroot-rpi-probe/hello", home=home)
        assert hello.stdout.strip() == "rpi-probe-archive"
        assert any(p.endswith("/archive/dists/trixie/InRelease") for p, _ in server.requests)
        # the archive re-signed by a key bound by SHA-1 only (as before 2025-06)
        swap = (
            "cp /srv/archive-sha1.gpg /usr/share/keyrings/raspberrypi-archive-keyring.pgp && "
            f"sed -i 's#/archive/#/archive-sha1/#' {sources}"
        )
        bind = f"{fixtures.folder}:/srv"
        swapped = armroot("run", "rpi", "--bind", bind, "--", "sh", "-c", swap, home=home)
        assert swapped.returncode == 0, swapped.stderr
        refused = armroot("install", "rpi", "armroot-rpi-probe", home=home, timeout=900)
        assert refused.returncode != 0
        lines = error_lines(refused.stderr)
        assert len(lines) == 1 and "is bound only by SHA-1 signatures" in lines[0], refused.stderr
        assert "which apt 3 refuses since 2026-02-01" in lines[0]
        assert "/usr/share/keyrings/raspberrypi-archive-keyring.pgp" in lines[0]
    after = armroot("run", "rpi", "--", "sh", "-c", RENAME_STATE, home=home)
    assert after.stdout.split() == ["pi", "not-renamed", "armed"]
    assert (rootfs / "etc/ld.so.preload").read_bytes() == preload
    assert armroot("rm", "rpi", home=home).returncode == 0
    assert HostState.now() == before
