"""Image fixtures built from a real Debian armhf root, and a local HTTP server to serve them.

Built once and cached beside the roots (the test cache), keyed by the root they came from:
an Arch-Linux-ARM-style tarball with its detached .sig made by a signing key of the
fixtures' own (its public half in the root's /usr/share/pacman/keyrings/archlinuxarm.gpg,
as archlinuxarm-keyring puts it, and in signer.asc for the tests to pin; wrong.sig is the
same tarball signed by another key), a Raspberry-Pi-OS-style disk image (MBR, FAT boot +
ext4 root made with mke2fs -d, no mount) as .img.xz with its .sha256 (and the image's own
sha256, which Imager's index gives, in image.sha256), and the same image in a .zip.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from tests.helpers import TAR

FIXTURE_VERSION = "2"
PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
    "usr/lib/gcc",
    "usr/libexec/gcc",
    "usr/include",
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/perl",
    "usr/lib/arm-linux-gnueabihf/perl",
)
MiB = 2**20


class ImageFixtures(NamedTuple):
    folder: Path
    tarball: Path  # ArchLinuxARM-rpi-armv7-latest.tar.gz (+ .sig)
    signer: Path  # the public key that signed it (armored)
    wrong_sig: Path  # the tarball signed by another key
    image_xz: Path  # raspios-style.img.xz (+ .sha256)
    image_sha256: str  # of the image itself
    archive: Path  # an apt archive (armroot-rpi-probe) signed by archive.asc's key
    archive_sha1: Path  # the same signed by a key bound by SHA-1 only (archive-sha1.gpg)
    image_zip: Path  # raspios-style.zip
    no_linux: Path  # an image with only a FAT partition
    truncated: Path  # the image cut short


def _sh(*argv: str, **kw: object) -> None:
    subprocess.run(list(argv), check=True, **kw)  # type: ignore[call-overload]


def _prepare_root(tarball: Path, target: Path) -> None:
    target.mkdir()
    _sh(
        *TAR,
        "-C",
        str(target),
        "-xpf",
        str(tarball),
    )
    for rel in PRUNE:
        shutil.rmtree(target / rel, ignore_errors=True)
    (target / "boot/firmware").mkdir(parents=True, exist_ok=True)
    (target / "etc/fstab").write_text(
        "proc /proc proc defaults 0 0\n"
        "PARTUUID=4e639091-01 /boot/firmware vfat defaults 0 2\n"
        "PARTUUID=4e639091-02 / ext4 defaults,noatime 0 1\n"
    )
    # Raspberry Pi OS preloads libarmmem; under QEMU that breaks (here: the library is absent).
    (target / "etc/ld.so.preload").write_text("/usr/lib/arm-linux-gnueabihf/libarmmem-v7l.so\n")
    # trixie's deb822 sources (sources.list emptied), and the first-boot rename armed
    (target / "etc/apt/sources.list").write_text("")
    for old in (target / "etc/apt/sources.list.d").glob("*"):
        old.unlink()
    (target / "etc/apt/sources.list.d/raspi.sources").write_text(RASPI_SOURCES)
    (target / "usr/lib/userconf-pi").mkdir(parents=True)
    service = target / "usr/lib/userconf-pi/userconf-service"
    service.write_text(USERCONF_SERVICE)
    service.chmod(0o755)
    (target / "usr/lib/systemd/system").mkdir(parents=True, exist_ok=True)
    (target / "usr/lib/systemd/system/userconfig.service").write_text(USERCONFIG_UNIT)
    wants = target / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "userconfig.service").symlink_to("/usr/lib/systemd/system/userconfig.service")
    with (target / "etc/passwd").open("a") as f:
        f.write("pi:x:1000:1000:,,,:/home/pi:/bin/bash\n")
    with (target / "etc/group").open("a") as f:
        f.write("pi:x:1000:\n")
    with (target / "etc/shadow").open("a") as f:
        f.write("pi:*:20000:0:99999:7:::\n")
    (target / "home/pi").mkdir(parents=True)
    os.chown(target / "home/pi", 1000, 1000)


def _disk_image(root: Path, out: Path, with_linux: bool = True) -> None:
    work = out.parent / (out.name + ".parts")
    work.mkdir()
    boot = work / "boot.vfat"
    _sh("mkfs.vfat", "-C", "-n", "bootfs", str(boot), str(64 * 1024), stdout=subprocess.DEVNULL)
    (work / "config.txt").write_text("arm_64bit=0\n")
    (work / "cmdline.txt").write_text("console=serial0,115200 root=PARTUUID=4e639091-02\n")
    (work / "overlays").mkdir()
    (work / "overlays/README").write_text("overlays\n")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    _sh(
        "mcopy",
        "-s",
        "-i",
        str(boot),
        str(work / "config.txt"),
        str(work / "cmdline.txt"),
        str(work / "overlays"),
        "::/",
        env=env,
    )
    used = int(
        subprocess.run(
            ["du", "-sb", str(root)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    root_size = (int(used * 1.5) // MiB + 64) * MiB
    start_boot, boot_size = 4 * MiB, 64 * MiB
    start_root = start_boot + boot_size
    total = start_root + (root_size if with_linux else 0)
    with out.open("wb") as f:
        f.truncate(total)
    layout = (
        "label: dos\nlabel-id: 0x4e639091\n"
        f"start={start_boot // 512}, size={boot_size // 512}, type=c\n"
    )
    if with_linux:
        layout += f"start={start_root // 512}, size={root_size // 512}, type=83\n"
    _sh("sfdisk", "-q", str(out), input=layout.encode())
    _sh(
        "dd",
        f"if={boot}",
        f"of={out}",
        "bs=1M",
        f"seek={start_boot // MiB}",
        "conv=notrunc",
        "status=none",
    )
    if with_linux:
        ext4 = work / "root.ext4"
        _sh(
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            "rootfs",
            "-d",
            str(root),
            str(ext4),
            str(root_size // 1024),
        )
        _sh(
            "dd",
            f"if={ext4}",
            f"of={out}",
            "bs=4M",
            f"seek={start_root // (4 * MiB)}",
            "conv=notrunc,sparse",
            "status=none",
        )
    shutil.rmtree(work)


class _Signer:
    """Fresh signing keys in a GnuPG home of their own (its agent stopped at the end):
    ``signer`` is the one the tests pin, ``other`` one they do not; ``archive`` signs an apt
    archive, ``archive-sha1`` another, its user ID bound by a SHA-1 self-signature only (as
    the Raspberry Pi archive's older keyrings were)."""

    def __init__(self, home: str) -> None:
        self.env = dict(os.environ, GNUPGHOME=home)
        self.gpg = ("gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "")
        for who in ("signer", "other", "archive"):
            uid = f"armroot test {who} <{who}@armroot.invalid>"
            _sh(*self.gpg, "--quick-gen-key", uid, "ed25519", "sign", "never", env=self.env)
        uid = "armroot test archive-sha1 <archive-sha1@armroot.invalid>"
        _sh(*self.gpg, "--cert-digest-algo", "SHA1", "--quick-gen-key", uid, "rsa2048", "sign",
            "never", env=self.env)  # fmt: skip

    def public(self, who: str = "signer", armor: bool = True) -> bytes:
        return subprocess.run(
            [*self.gpg, "--export", *(("--armor",) if armor else ()), f"{who}@armroot.invalid"],
            env=self.env,
            check=True,
            capture_output=True,
        ).stdout

    def sign(self, who: str, path: Path, out: Path) -> None:
        _sh(*self.gpg, "-u", f"{who}@armroot.invalid", "-o", str(out), "--detach-sign",
            str(path), env=self.env)  # fmt: skip

    def clearsign(self, who: str, path: Path, out: Path) -> None:
        _sh(*self.gpg, "-u", f"{who}@armroot.invalid", "--digest-algo", "SHA512", "-o", str(out),
            "--clearsign", str(path), env=self.env)  # fmt: skip


def _apt_archive(top: Path, signer: _Signer, who: str, work: Path) -> None:
    """A one-package apt archive (suite trixie, main, armhf and all) under ``top``, its
    InRelease signed by ``who``."""
    pkg = work / f"deb-{who}"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        "Package: armroot-rpi-probe\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: armroot tests <tests@armroot.invalid>\n"
        "Description: a package from the tests' own archive\n"
    )
    (pkg / "usr/share/armroot-rpi-probe").mkdir(parents=True)
    (pkg / "usr/share/armroot-rpi-probe/hello").write_text(f"rpi-probe-{who}\n")
    deb = top / "pool/main/armroot-rpi-probe_1.0_all.deb"
    deb.parent.mkdir(parents=True)
    _sh("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(deb),
        stdout=subprocess.DEVNULL)  # fmt: skip
    control = (pkg / "DEBIAN/control").read_text()
    stanza = (
        f"{control}Filename: pool/main/{deb.name}\nSize: {deb.stat().st_size}\n"
        f"SHA256: {_digest(deb, 'sha256')}\n"
    )
    dists = top / "dists/trixie"
    packages = dists / "main/binary-armhf/Packages"
    packages.parent.mkdir(parents=True)
    packages.write_text(stanza)
    rel = packages.relative_to(dists)
    (dists / "Release").write_text(
        "Origin: armroot tests\nSuite: trixie\nCodename: trixie\n"
        "Date: Tue, 01 Dec 2026 00:00:00 UTC\nArchitectures: armhf\nComponents: main\n"
        f"SHA256:\n {_digest(packages, 'sha256')} {packages.stat().st_size} {rel}\n"
    )
    signer.clearsign(who, dists / "Release", dists / "InRelease")
    shutil.rmtree(pkg)


# Raspberry Pi OS trixie's apt sources, as pi-gen writes them (stage0/00-configure-apt): the
# Raspberry Pi archive in deb822 form; the address is the tests' own archive, set per test.
RASPI_SOURCES = """Types: deb
URIs: http://127.0.0.1:9/debian/
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/raspberrypi-archive-keyring.pgp
"""
# userconf-pi as pi-gen's rename-user arms it: on the first boot userconfig.service renames
# the uid-1000 user as /boot/firmware/userconf.txt says (here: a stand-in that records it).
USERCONF_SERVICE = """#!/bin/sh
echo ran > /var/lib/armroot-userconf-ran
"""
USERCONFIG_UNIT = """[Unit]
Description=User configuration dialog
After=systemd-user-sessions.service plymouth-quit-wait.service
Before=getty@tty1.service

[Service]
Type=oneshot
ExecStart=/usr/lib/userconf-pi/userconf-service
TTYPath=/dev/tty8

[Install]
WantedBy=multi-user.target
"""


@contextmanager
def _signer() -> Iterator[_Signer]:
    with tempfile.TemporaryDirectory(prefix="armroot-fixture-gpg-") as home:
        try:
            yield _Signer(home)
        finally:
            _sh("gpgconf", "--kill", "all", env=dict(os.environ, GNUPGHOME=home))


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def build(armhf_tarball: Path, cache: Path) -> ImageFixtures:
    key = hashlib.sha256(f"{armhf_tarball.name}:{FIXTURE_VERSION}".encode()).hexdigest()[:12]
    folder = cache / f"images-{key}"
    image_sha256 = folder / "image.sha256"
    fixtures = ImageFixtures(
        folder,
        folder / "ArchLinuxARM-rpi-armv7-latest.tar.gz",
        folder / "signer.asc",
        folder / "wrong.sig",
        folder / "raspios-style.img.xz",
        image_sha256.read_text().strip() if image_sha256.is_file() else "",
        folder / "archive",
        folder / "archive-sha1",
        folder / "raspios-style.zip",
        folder / "no-linux.img",
        folder / "truncated.img",
    )
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock-images", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if folder.is_dir():
            return fixtures._replace(image_sha256=image_sha256.read_text().strip())
        partial = cache / f"images-{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        root = partial / "root"
        _prepare_root(armhf_tarball, root)
        tarball = partial / fixtures.tarball.name
        keyrings = root / "usr/share/pacman/keyrings"
        keyrings.mkdir(parents=True)
        with _signer() as signer:
            public = signer.public()
            (partial / fixtures.signer.name).write_bytes(public)
            (keyrings / "archlinuxarm.gpg").write_bytes(public)
            _apt_archive(partial / "archive", signer, "archive", partial)
            _apt_archive(partial / "archive-sha1", signer, "archive-sha1", partial)
            (partial / "archive-sha1.gpg").write_bytes(signer.public("archive-sha1", armor=False))
            (root / "usr/share/keyrings/raspberrypi-archive-keyring.pgp").write_bytes(
                signer.public("archive", armor=False)
            )
            _sh(*TAR, "-C", str(root), "--use-compress-program=gzip -1", "-cpf", str(tarball), ".")
            signer.sign("signer", tarball, tarball.with_name(tarball.name + ".sig"))
            signer.sign("other", tarball, partial / fixtures.wrong_sig.name)
        image = partial / "raspios-style.img"
        _disk_image(root, image)
        (partial / image_sha256.name).write_text(_digest(image, "sha256") + "\n")
        _sh("xz", "-0", "-T2", "-k", str(image))
        xz = partial / fixtures.image_xz.name
        (partial / (xz.name + ".sha256")).write_text(f"{_digest(xz, 'sha256')}  {xz.name}\n")
        with zipfile.ZipFile(partial / fixtures.image_zip.name, "w", zipfile.ZIP_STORED) as z:
            z.write(image, "raspios-style.img")
        with image.open("rb") as src, (partial / fixtures.truncated.name).open("wb") as dst:
            dst.write(src.read(image.stat().st_size // 2))
        image.unlink()
        _disk_image(root, partial / fixtures.no_linux.name, with_linux=False)
        shutil.rmtree(root)
        partial.rename(folder)
    return fixtures


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support; can break a response off part-way once per path."""

    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start = 0
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes="):
            start = int(range_header[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        cut = self.server.break_once.pop(self.path, None)
        with path.open("rb") as f:
            f.seek(start)
            sent = 0
            while chunk := f.read(256 * 1024):
                if cut is not None and sent + len(chunk) > cut:
                    self.wfile.write(chunk[: cut - sent])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                sent += len(chunk)


class _Server(http.server.ThreadingHTTPServer):
    requests: list[tuple[str, str | None]]
    break_once: dict[str, int]


class LocalServer(NamedTuple):
    url: str
    server: _Server

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return self.server.requests

    def break_once(self, path: str, after: int) -> None:
        self.server.break_once[path] = after


@contextmanager
def serve(folder: Path) -> Iterator[LocalServer]:
    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

    server = _Server(("127.0.0.1", 0), handler)
    server.requests = []
    server.break_once = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
