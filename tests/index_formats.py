"""The publishers' indexes in their real formats, for tests: Raspberry Pi Imager's OS list
(JSON as os_list_imagingutility_v4.json has it: Raspberry Pi OS Lite under the "Raspberry
Pi OS (other)" category's subitems, its images with extract_sha256 and no download sha256)
and Alpine's latest-releases.yaml (as aports' scripts/mkimage-yaml.sh writes it)."""

from __future__ import annotations

import json
from typing import NamedTuple


class Image(NamedTuple):
    date: str  # the release date (also in the file name)
    codename: str
    arch: str  # armhf or arm64
    extract_sha256: str  # of the image once decompressed
    size: int
    sha256: str = ""  # of the .img.xz: Imager's list does not give it for Raspberry Pi OS

    def filename(self) -> str:
        return f"{self.date}-raspios-{self.codename}-{self.arch}-lite.img.xz"

    def path(self) -> str:
        """Where the publisher keeps it, below its download root."""
        folder = f"raspios_lite_{self.arch}/images/raspios_lite_{self.arch}-{self.date}"
        return f"{folder}/{self.filename()}"


def _devices(arch: str) -> list[str]:
    if arch == "arm64":
        return ["pi5-64bit", "pi4-64bit", "pi3-64bit"]
    return ["pi5-32bit", "pi4-32bit", "pi3-32bit", "pi2-32bit", "pi1-32bit"]


def os_list(base: str, images: list[Image]) -> str:
    """An Imager OS list: the first image as a top-level entry, the rest (and a desktop
    image armroot must ignore) under "Raspberry Pi OS (other)"."""

    def entry(image: Image) -> dict[str, object]:
        bits = "64-bit" if image.arch == "arm64" else "32-bit"
        download = {"image_download_sha256": image.sha256} if image.sha256 else {}
        return download | {
            "name": f"Raspberry Pi OS Lite ({bits})",
            "description": f"A port of Debian {image.codename} with no desktop environment",
            "icon": "https://example.invalid/icons/RPi-Lite.png",
            "url": f"{base}/{image.path()}",
            "extract_size": image.size * 4,
            "extract_sha256": image.extract_sha256,
            "image_download_size": image.size,
            "release_date": image.date,
            "init_format": "cloudinit-rpi" if image.codename == "trixie" else "systemd",
            "devices": _devices(image.arch),
        }

    desktop = {
        "name": "Raspberry Pi OS (64-bit)",
        "description": "A port of Debian with the Raspberry Pi Desktop",
        "url": f"{base}/raspios_arm64/images/raspios_arm64-2025-10-01/"
        "2025-10-01-raspios-trixie-arm64.img.xz",
        "extract_sha256": "d" * 64,
        "release_date": "2025-10-01",
        "devices": _devices("arm64"),
    }
    data = {
        "imager": {"latest_version": "2.0.0", "url": "https://example.invalid/software/"},
        "os_list": [
            entry(images[0]),
            desktop,
            {
                "name": "Raspberry Pi OS (other)",
                "description": "Other Raspberry Pi OS based images",
                "subitems": [entry(i) for i in images[1:]],
            },
            {"name": "Other specific-purpose OS", "subitems_url": f"{base}/other.json"},
            {"name": "Erase", "description": "Format card as FAT32"},
        ],
    }
    return json.dumps(data, indent=2)


def latest_releases(
    arch: str, version: str, file: str, sha256: str, size: int, date: str = "2025-10-08"
) -> str:
    """Alpine's latest-releases.yaml for ``arch``: a standard ISO entry, then the
    minirootfs (the one armroot takes)."""
    branch = "v" + ".".join(version.split(".")[:2])
    return f"""---
-
  title: "Standard"
  desc: |
    Alpine as it was intended.
    Just enough to get you started.
    Network connection is required.
  branch: {branch}
  date: {date}
  time: 08:41:58
  arch: {arch}
  version: {version}
  flavor: alpine-standard
  file: alpine-standard-{version}-{arch}.iso
  iso: alpine-standard-{version}-{arch}.iso
  size: 250000000
  sha256: {"a" * 64}
  sha512: {"b" * 128}
-
  title: "Mini root filesystem"
  desc: |
    Minimal root filesystem.
    For use in containers
    and minimal chroots.
  branch: {branch}
  date: {date}
  time: 08:41:58
  arch: {arch}
  version: {version}
  flavor: alpine-minirootfs
  file: {file}
  iso: {file}
  size: {size}
  sha256: {sha256}
  sha512: {"c" * 128}
"""
