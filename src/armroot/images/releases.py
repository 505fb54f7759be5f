"""Releases read from the distributions' own indexes. Pure: text in, releases out.

- Raspberry Pi OS: the OS list Raspberry Pi Imager reads (JSON: ``os_list`` entries, nested
  in ``subitems``; each image has url, image_download_sha256, extract_sha256, release_date,
  devices). A Lite image's file name says its date, codename and architecture:
  ``2025-10-01-raspios-trixie-arm64-lite.img.xz``.
- Alpine: ``latest-releases.yaml`` of a branch and architecture (a list of mappings: flavor,
  file, version, date, size, sha256); the minirootfs is the ``alpine-minirootfs`` flavour.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import NamedTuple

import yaml

from armroot.errors import SourceError


class Release(NamedTuple):
    flavour: str  # lite-arm64, lite-armhf; aarch64, armhf, armv7
    version: str  # the codename (trixie) or the version (3.22.2)
    date: str  # YYYY-MM-DD
    url: str
    sha256: str  # of the download, "" if the index does not say
    size: int = 0  # of the download, 0 if unknown
    extract_sha256: str = ""  # of the image inside the .xz, if the index says
    devices: tuple[str, ...] = ()  # the index's device tags (pi5-64bit, ...)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RASPIOS_LITE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})-raspios-(?P<codename>[a-z]+)-(?P<arch>armhf|arm64)-lite\.img\.xz$"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")
# a file name beside the index, as Alpine's are (alpine-minirootfs-3.22.2-aarch64.tar.gz)
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def _walk(items: object) -> Iterator[dict[str, object]]:
    if not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, dict):
            yield item
            yield from _walk(item.get("subitems"))


def _fetchable(url: str) -> bool:
    """What a download can be fetched by: http(s) to a host, in printable ASCII, no space."""
    if not re.fullmatch(r"[!-~]+", url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError if it is not a port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def raspios(text: str, source: str) -> list[Release]:
    """Every Raspberry Pi OS Lite release in an Imager OS list, newest first."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{source} is not JSON ({exc})", _REFRESH) from exc
    if not isinstance(data, dict) or not isinstance(data.get("os_list"), list):
        raise SourceError(f"{source} has no os_list: not an Imager OS list", _REFRESH)
    found: dict[str, Release] = {}
    for item in _walk(data["os_list"]):
        url = item.get("url")
        sha256 = str(item.get("image_download_sha256", "")).lower()
        extract = str(item.get("extract_sha256", "")).lower()
        if not isinstance(url, str) or not _SHA256.fullmatch(extract):
            continue  # Imager itself refuses an image without its extract_sha256
        named = _RASPIOS_LITE.search(url.rsplit("/", 1)[-1])
        if named is None or not _fetchable(url):
            continue
        given = item.get("release_date")
        date = given if isinstance(given, str) and _DATE.fullmatch(given) else named["date"]
        devices = item.get("devices")
        size = item.get("image_download_size")
        found[url] = Release(
            f"lite-{named['arch']}",
            named["codename"],
            date,
            url,
            sha256 if _SHA256.fullmatch(sha256) else "",
            size if type(size) is int and size >= 0 else 0,  # (a bool is an int too)
            extract,
            tuple(str(d) for d in devices) if isinstance(devices, list) else (),
        )
    # Newest first; on one date (Imager lists the "Legacy" oldstable image beside the
    # current one, often of the same date) the newer Debian release first.
    return sorted(found.values(), key=lambda r: (r.date, _rank(r.version), r.url), reverse=True)


DEBIAN_ORDER = ("stretch", "buster", "bullseye", "bookworm", "trixie", "forky", "duke")


def _rank(codename: str) -> int:
    return DEBIAN_ORDER.index(codename) if codename in DEBIAN_ORDER else len(DEBIAN_ORDER)


def selector(release: Release, siblings: list[Release]) -> str:
    """How to name ``release`` among ``siblings`` (one flavour's releases): its date, or
    its date and codename when another release has the same date."""
    same_day = [r for r in siblings if r.date == release.date]
    return release.date if len(same_day) == 1 else f"{release.date}-{release.version}"


def alpine(text: str, source: str, flavour: str, folder: str) -> Release:
    """The minirootfs of one latest-releases.yaml; ``folder`` is the URL it came from, less
    the file name (the tarball sits beside it)."""
    try:
        # BaseLoader: every value a string (YAML 1.1 would read 08:41:58 as a number)
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        raise SourceError(f"{source} is not YAML ({exc})", _REFRESH) from exc
    except RecursionError as exc:  # PyYAML composes nested collections recursively
        raise SourceError(f"{source} is not YAML (nested too deeply)", _REFRESH) from exc
    for item in data if isinstance(data, list) else ():
        if not isinstance(item, dict) or item.get("flavor") != "alpine-minirootfs":
            continue
        sha256 = _scalar(item, "sha256").lower()
        name = _scalar(item, "file")
        if not _SHA256.fullmatch(sha256) or not _FILE.fullmatch(name):
            raise SourceError(f"{source}: its minirootfs entry has no file or sha256", _REFRESH)
        size = _scalar(item, "size")
        return Release(
            flavour,
            _scalar(item, "version"),
            _scalar(item, "date"),
            f"{folder}/{name}",
            sha256,
            int(size) if re.fullmatch(r"[0-9]{1,18}", size) else 0,
        )
    raise SourceError(f"{source} lists no alpine-minirootfs", _REFRESH)


def _scalar(item: dict[str, object], key: str) -> str:
    """A mapping's text value, or "" when it is a collection: never str() of one, which
    aliases can make exponentially large (a YAML bomb)."""
    value = item.get(key, "")
    return value if isinstance(value, str) else ""


_REFRESH = "the index may be damaged or changed format: try `armroot images --refresh`"


def pick(releases: list[Release], flavour: str, selector: str) -> Release | None:
    """The newest release of ``flavour``, or the newest one whose date, codename, version or
    DATE-CODENAME is ``selector``."""
    for release in releases:  # newest first
        if release.flavour != flavour:
            continue
        names = (release.date, release.version, f"{release.date}-{release.version}")
        if not selector or selector in names:
            return release
    return None
