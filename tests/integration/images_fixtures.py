"""Image fixtures built from a real Debian armhf root, and a local HTTP server to serve them.

Built once and cached beside the roots (the test cache), keyed by the root they came from:
an Arch-Linux-ARM-style tarball with its .md5, a Raspberry-Pi-OS-style disk image (MBR, FAT
boot + ext4 root made with mke2fs -d, no mount) as .img.xz with its .sha256, and the same
image in a .zip.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.server
import os
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from tests.helpers import TAR

FIXTURE_VERSION = "1"
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
    tarball: Path  # ArchLinuxARM-rpi-armv7-latest.tar.gz (+ .md5)
    image_xz: Path  # raspios-style.img.xz (+ .sha256)
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


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def build(armhf_tarball: Path, cache: Path) -> ImageFixtures:
    key = hashlib.sha256(f"{armhf_tarball.name}:{FIXTURE_VERSION}".encode()).hexdigest()[:12]
    folder = cache / f"images-{key}"
    fixtures = ImageFixtures(
        folder,
        folder / "ArchLinuxARM-rpi-armv7-latest.tar.gz",
        folder / "raspios-style.img.xz",
        folder / "raspios-style.zip",
        folder / "no-linux.img",
        folder / "truncated.img",
    )
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock-images", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if folder.is_dir():
            return fixtures
        partial = cache / f"images-{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        root = partial / "root"
        _prepare_root(armhf_tarball, root)
        tarball = partial / fixtures.tarball.name
        _sh(
            *TAR,
            "-C",
            str(root),
            "--use-compress-program=gzip -1",
            "-cpf",
            str(tarball),
            ".",
        )
        (partial / (tarball.name + ".md5")).write_text(
            f"{_digest(tarball, 'md5')}  {tarball.name}\n"
        )
        image = partial / "raspios-style.img"
        _disk_image(root, image)
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
