"""Named root filesystem sources: what each distribution publishes now, read from its own
index, and how each download is verified.

- ``raspios:lite-arm64``, ``raspios:lite-armhf``: the releases in the OS list Raspberry Pi
  Imager reads; the newest by default, an older one by date or codename
  (``raspios:lite-arm64@2025-05-13``, ``raspios:lite-armhf@bookworm``); the index's sha256.
- ``alpine:aarch64``, ``alpine:armv7``, ``alpine:armhf``: the current stable minirootfs from
  latest-releases.yaml, or a branch's (``alpine:aarch64@3.21``); the index's sha256.
- ``archlinuxarm:rpi-aarch64``, ``archlinuxarm:rpi-armv7``: the "latest" tarballs, verified
  by their detached OpenPGP signature against the build key armroot pins (images/keys/).
- ``debian:SUITE-ARCH``: mmdebstrap from the signed archive.

Indexes are fetched over https and kept (:mod:`armroot.images.indexes`). Where they are
fetched from is the publishers' own addresses unless the environment names another
(:data:`OVERRIDES`: a mirror, or a local copy for tests). ``ARMROOT_CATALOGUE`` may name a
JSON file of further entries (objects with the fields of :class:`Entry`), which are added
to, and may replace, the built-in ones.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import urllib.parse
from importlib import resources
from typing import NamedTuple

from armroot.errors import SourceError, UsageError
from armroot.host import openpgp
from armroot.images import indexes, releases
from armroot.rootfs import boards
from armroot.rootfs.arch import ARM64, ARMEL, ARMHF, Arch, CpuLevel

SHA256 = "sha256"  # a sha256 in ``checksum``: from the publisher's index, or the user's
SHA256_FILE = "sha256-file"  # sha256sum-style file upstream publishes, at ``checksum``
OPENPGP = "openpgp"  # a detached signature at ``checksum`` by the key ``key`` names
MMDEBSTRAP = "mmdebstrap"  # a bootstrap from a signed Debian archive (apt verifies it)
VERIFICATIONS = (SHA256, SHA256_FILE, OPENPGP, MMDEBSTRAP)

TARBALL = "tarball"
DISK_IMAGE = "disk-image"
DEBIAN = "debian"


class Entry(NamedTuple):
    id: str
    title: str
    kind: str  # tarball, disk-image or debian
    arch: str
    boards: tuple[str, ...]
    url: str  # for debian: the mirror
    verify: str
    checksum: str = ""  # the sha256, or the URL of the checksum file or signature
    size: int = 0  # approximate download size in bytes, 0 if unknown
    suite: str = ""  # for debian entries
    unsupported: str = ""  # why boards not in ``boards`` cannot use it, if there is a reason
    released: str = ""  # YYYY-MM-DD, when known
    version: str = ""  # the codename or version the publisher gives it
    key: str = ""  # openpgp: a pinned key's name (see PINNED), or a key file's path
    index_url: str = ""  # the publisher's index it came from, if any
    extract_sha256: str = ""  # a disk image's own sha256 once decompressed (the index's)

    def describe_verification(self) -> str:
        inside = (
            f"; the image itself by sha256 {self.extract_sha256[:16]}… from {self.index_url}"
            if self.extract_sha256
            else ""
        )
        if self.verify == SHA256 and self.index_url:
            return f"sha256 {self.checksum[:16]}… from {self.index_url}" + inside
        if self.verify == SHA256_FILE and inside:
            return f"the download by the sha256 in {self.checksum}" + inside
        if self.verify == OPENPGP:
            pinned = PINNED.get(self.key)
            override = key_override(self.key)
            if override:
                signer = f"a key in {override} ({_override_name(self.key)}, not the pinned key)"
            else:
                signer = f"{pinned.owner} ({pinned.fingerprints[0]})" if pinned else self.key
            return f"OpenPGP signature {self.checksum} by {signer}"
        return {
            SHA256: f"pinned sha256 {self.checksum[:16]}…",
            SHA256_FILE: f"sha256 from {self.checksum}",
            MMDEBSTRAP: "apt verifies the archive's signed Release file (debian-archive-keyring)",
        }[self.verify]


class PinnedKey(NamedTuple):
    owner: str
    fingerprints: tuple[str, ...]  # primary keys whose signatures count
    file: str  # in armroot/images/keys/
    keyring: str  # where the distribution's own keyring package puts the key, in its root


# The key Arch Linux ARM's build system signs its os/ tarballs with; the same key is in the
# distribution's own keyring package (archlinuxarm-keyring: archlinuxarm.gpg, -trusted).
PINNED = {
    "archlinuxarm": PinnedKey(
        "Arch Linux ARM Build System <builder@archlinuxarm.org>",
        ("68B3537F39A313B3E574D06777193F152BDBE6A6",),
        "archlinuxarm.asc",
        "/usr/share/pacman/keyrings/archlinuxarm.gpg",
    ),
}


def _override_name(name: str) -> str:
    return f"ARMROOT_KEY_{name.upper()}"


def key_override(name: str) -> str:
    """The key file that replaces the pinned key ``name``, if the environment names one."""
    return os.environ.get(_override_name(name), "") if name in PINNED else ""


def pinned_key(name: str) -> tuple[bytes, tuple[str, ...]]:
    """A key's OpenPGP data and the fingerprints that count. A name in PINNED is armroot's
    own copy, unless ARMROOT_KEY_<NAME> names a file to use instead (then any key in it
    counts); anything else is a key file's path (a user's catalogue entry)."""
    override = key_override(name) if name in PINNED else name
    if override:
        try:
            with open(override, "rb") as f:
                return f.read(), ()
        except OSError as exc:
            raise UsageError(
                f"cannot read the OpenPGP key {override} ({exc.strerror})",
                "give the path of the publisher's public key",
            ) from exc
    pinned = PINNED[name]
    data = resources.files("armroot.images").joinpath("keys", pinned.file).read_bytes()
    return data, pinned.fingerprints


# ---- the publishers' addresses, and the environment variables that replace them ----

OVERRIDES = {
    "raspios": "ARMROOT_RASPIOS_INDEX",  # the Imager OS list's URL
    "alpine": "ARMROOT_ALPINE_MIRROR",  # the mirror's alpine/ folder
    "archlinuxarm": "ARMROOT_ARCHLINUXARM_MIRROR",  # the folder holding the os tarballs
}
DEFAULTS = {
    "raspios": "https://downloads.raspberrypi.com/os_list_imagingutility_v4.json",
    "alpine": "https://dl-cdn.alpinelinux.org/alpine",
    "archlinuxarm": "https://os.archlinuxarm.org/os",
}


def address(family: str) -> str:
    """Where ``family``'s indexes are: the publisher's, or an override, which must be https
    (the indexes carry the sha256s downloads are checked by) or plain http only to this
    machine's loopback (a local mirror, the tests' fixtures)."""
    override = os.environ.get(OVERRIDES[family], "")
    if not override:
        return DEFAULTS[family]
    parsed = urllib.parse.urlsplit(override)
    local = parsed.scheme == "http" and _loopback(parsed.hostname or "")
    if parsed.scheme != "https" and not local:
        raise UsageError(
            f"{OVERRIDES[family]}={override}: not an https URL",
            "the index carries the checksums downloads are checked by: give an https mirror "
            "(plain http only to 127.0.0.1)",
        )
    return override.rstrip("/")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# ---- the families, as data ----


class Flavour(NamedTuple):
    family: str
    name: str
    title: str
    kind: str
    arch: Arch
    boards: tuple[str, ...]
    unsupported: str = ""

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"


_V7_BOARDS = boards.for_arch(ARMHF, CpuLevel.V7)
_V6_BOARDS = boards.for_arch(ARMHF, CpuLevel.V6)
_ARM64_BOARDS = boards.for_arch(ARM64)
_ALARM_NO_V6 = "Arch Linux ARM dropped ARMv6 (Pi Zero, Pi 1) in 2022: it has no image for them"

FLAVOURS: tuple[Flavour, ...] = (
    Flavour(
        "raspios", "lite-arm64", "Raspberry Pi OS Lite 64-bit", DISK_IMAGE, ARM64, _ARM64_BOARDS
    ),
    Flavour("raspios", "lite-armhf", "Raspberry Pi OS Lite 32-bit", DISK_IMAGE, ARMHF, _V6_BOARDS),
    Flavour("alpine", "aarch64", "Alpine Linux minirootfs (arm64)", TARBALL, ARM64, _ARM64_BOARDS),
    Flavour("alpine", "armv7", "Alpine Linux minirootfs (armv7)", TARBALL, ARMHF, _V7_BOARDS),
    Flavour(
        "alpine", "armhf", "Alpine Linux minirootfs (armhf, ARMv6)", TARBALL, ARMHF, _V6_BOARDS
    ),
    Flavour(
        "archlinuxarm",
        "rpi-aarch64",
        "Arch Linux ARM for Raspberry Pi (AArch64)",
        TARBALL,
        ARM64,
        _ARM64_BOARDS,
        _ALARM_NO_V6,
    ),
    Flavour(
        "archlinuxarm",
        "rpi-armv7",
        "Arch Linux ARM for Raspberry Pi (ARMv7)",
        TARBALL,
        ARMHF,
        _V7_BOARDS,
        _ALARM_NO_V6,
    ),
)
FAMILIES = ("raspios", "alpine", "archlinuxarm")
DEBIAN_ENTRIES: tuple[Entry, ...] = tuple(
    Entry(
        f"debian:{suite}-{arch.name}",
        f"Debian {suite} {arch.name} (mmdebstrap)",
        DEBIAN,
        arch.name,
        boards.for_arch(arch),
        "http://deb.debian.org/debian",
        MMDEBSTRAP,
        suite=suite,
    )
    for suite in ("bookworm", "trixie")
    for arch in (ARM64, ARMHF, ARMEL)
)
_MiB = 2**20
_ALARM_SIZE = {"rpi-aarch64": 520 * _MiB, "rpi-armv7": 460 * _MiB}


def _entry(flavour: Flavour, release: releases.Release, selector: str, index: str) -> Entry:
    """An index's release as an entry: its download verified by the index's sha256, or
    (Raspberry Pi OS's index gives only the image's) by the .sha256 file the publisher
    keeps beside it, and then the image by the index's extract_sha256."""
    return Entry(
        flavour.id + (f"@{selector}" if selector else ""),
        f"{flavour.title} ({release.version}, {release.date})",
        flavour.kind,
        flavour.arch.name,
        flavour.boards,
        release.url,
        SHA256 if release.sha256 else SHA256_FILE,
        release.sha256 or release.url + ".sha256",
        release.size,
        unsupported=flavour.unsupported,
        released=release.date,
        version=release.version,
        index_url=index,
        extract_sha256=release.extract_sha256,
    )


def _raspios(policy: str) -> list[tuple[Flavour, list[releases.Release], str]]:
    url = address("raspios")
    index = indexes.load(
        url, "Raspberry Pi Imager's OS list", policy, lambda body: releases.raspios(body, url)
    )
    found = releases.raspios(index.text, url)
    return [(f, [r for r in found if r.flavour == f.name], url) for f in _of("raspios")]


def _alpine_index(flavour: Flavour, branch: str, policy: str) -> tuple[releases.Release, str]:
    folder = f"{address('alpine')}/{branch}/releases/{flavour.name}"
    url = f"{folder}/latest-releases.yaml"
    index = indexes.load(
        url,
        f"Alpine's {branch} {flavour.name} index",
        policy,
        lambda body: releases.alpine(body, url, flavour.name, folder),
    )
    return releases.alpine(index.text, url, flavour.name, folder), url


def _alarm(flavour: Flavour) -> Entry:
    """The entry of a "latest" tarball; its date from the signature last fetched, if one
    is kept (the date the signature carries, before `create` has checked it)."""
    url = f"{address('archlinuxarm')}/ArchLinuxARM-{flavour.name}-latest.tar.gz"
    released = ""
    kept = indexes.kept(url + ".sig")
    if kept is not None:
        try:
            released = openpgp.signature_info(kept.body).created.date().isoformat()
        except SourceError:
            released = ""
    return Entry(
        flavour.id,
        f"{flavour.title} (latest" + (f", signature dated {released})" if released else ")"),
        flavour.kind,
        flavour.arch.name,
        flavour.boards,
        url,
        OPENPGP,
        url + ".sig",
        _ALARM_SIZE[flavour.name],
        unsupported=flavour.unsupported,
        released=released,
        version="latest",
        key="archlinuxarm",
    )


def _of(family: str) -> tuple[Flavour, ...]:
    return tuple(f for f in FLAVOURS if f.family == family)


class Catalogue(NamedTuple):
    entries: tuple[Entry, ...]
    problems: tuple[str, ...]  # one line per index that could not be read


def catalogue(policy: str = "auto") -> Catalogue:
    """Every entry: the newest release of each flavour first, then older ones the indexes
    list; an index that cannot be read (and was never kept) is a problem, not an error."""
    out: list[Entry] = []
    problems: list[str] = []
    try:
        for flavour, found, url in _raspios(policy):
            out += [
                _entry(flavour, r, "" if i == 0 else releases.selector(r, found), url)
                for i, r in enumerate(found)
            ]
    except SourceError as exc:
        problems.append(f"raspios: {exc.one_line()}")
    for flavour in _of("alpine"):
        try:
            release, url = _alpine_index(flavour, "latest-stable", policy)
            out.append(_entry(flavour, release, "", url))
        except SourceError as exc:
            problems.append(f"{flavour.id}: {exc.one_line()}")
    for flavour in _of("archlinuxarm"):
        entry = _alarm(flavour)
        if policy != "offline":  # the current signature says the current release's date
            try:
                indexes.load(entry.checksum, f"the signature of {flavour.id}", policy)
                entry = _alarm(flavour)
            except SourceError as exc:
                problems.append(f"{flavour.id}: {exc.one_line()}")
        out.append(entry)
    entries = _with_extra((*out, *DEBIAN_ENTRIES))
    return Catalogue(entries, tuple(problems))


def _with_extra(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    extra_path = os.environ.get("ARMROOT_CATALOGUE")
    if not extra_path:
        return entries
    extra = _from_file(extra_path)
    replaced = {e.id for e in extra}
    return tuple(e for e in entries if e.id not in replaced) + tuple(extra)


_REQUIRED = ("id", "title", "kind", "arch", "url", "verify")


def _entry_of(item: object) -> Entry:
    """One entry of an ARMROOT_CATALOGUE file, each field of its type (ValueError if not)."""
    if not isinstance(item, dict):
        raise ValueError(f"an entry is {type(item).__name__}, not an object")
    unknown = sorted(set(item) - set(Entry._fields))
    missing = [k for k in _REQUIRED if k not in item]
    if unknown or missing:
        raise ValueError(f"unknown fields {unknown}" if unknown else f"no {', '.join(missing)}")
    named = item.get("boards", list(boards.ALL_NAMES))
    if not isinstance(named, list) or any(b not in boards.ALL_NAMES for b in named):
        raise ValueError(f"boards must be a list of {', '.join(boards.ALL_NAMES)}")
    size = item.get("size", 0)
    if type(size) is not int or size < 0:
        raise ValueError("size must be a whole number of bytes")
    texts = {k: v for k, v in item.items() if k not in ("boards", "size")}
    if any(not isinstance(v, str) for v in texts.values()):
        raise ValueError("every field but boards and size is a string")
    return Entry(**{**texts, "boards": tuple(named), "size": size})


def _from_file(path: str) -> list[Entry]:
    try:
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
        if not isinstance(items, list):
            raise ValueError("not a list")
        found = [_entry_of(item) for item in items]
    except (OSError, ValueError, RecursionError) as exc:
        raise UsageError(
            f"ARMROOT_CATALOGUE={path} cannot be read ({type(exc).__name__}: {exc})",
            "it must be a JSON list of entries with id, title, kind, arch, url, verify",
        ) from exc
    for entry in found:
        if entry.verify not in VERIFICATIONS:
            raise UsageError(
                f"ARMROOT_CATALOGUE={path}: {entry.id} is verified by {entry.verify!r}, "
                "which armroot does not accept",
                f"use one of {', '.join(VERIFICATIONS)} (md5 alone proves nothing)",
            )
        if entry.verify == OPENPGP and not entry.key:
            raise UsageError(
                f"ARMROOT_CATALOGUE={path}: {entry.id} needs the signer's key",
                'add "key": the path of the publisher\'s public key file',
            )
    return found


def ids_for(board: boards.Board) -> list[str]:
    """Catalogue ids whose images run on ``board`` (no index is read)."""
    names = [f.id for f in FLAVOURS if board.name in f.boards]
    return names + [e.id for e in DEBIAN_ENTRIES if board.name in e.boards]


def all_ids() -> list[str]:
    return [f.id for f in FLAVOURS] + [e.id for e in DEBIAN_ENTRIES]


def lookup(entry_id: str, policy: str = "auto") -> Entry:
    """The entry ``entry_id`` names (``FAMILY:FLAVOUR[@DATE|CODENAME|VERSION]``), reading
    only the index it needs."""
    base, _, selector = entry_id.partition("@")
    extra_path = os.environ.get("ARMROOT_CATALOGUE")
    if extra_path:
        for entry in _from_file(extra_path):
            if entry.id == entry_id:
                return entry
    for entry in DEBIAN_ENTRIES:
        if entry.id == entry_id:
            return entry
    flavour = next((f for f in FLAVOURS if f.id == base), None)
    if flavour is None:
        close = difflib.get_close_matches(base, all_ids(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else "see `armroot images`"
        raise UsageError(f"unknown image '{entry_id}'", hint)
    if flavour.family == "archlinuxarm":
        if selector:
            raise UsageError(
                f"{base} has no release '{selector}'",
                "Arch Linux ARM publishes only its latest tarball: drop the @",
            )
        return _alarm(flavour)
    if flavour.family == "alpine":
        branch = "latest-stable"
        if selector:
            parts = selector.split(".")
            if len(parts) < 2 or not all(p.isdigit() for p in parts):
                raise UsageError(
                    f"{entry_id}: Alpine releases are chosen by version, such as @3.21",
                    f"or use {base} for the current stable release",
                )
            branch = f"v{parts[0]}.{parts[1]}"
        release, url = _alpine_index(flavour, branch, policy)
        if selector and selector.count(".") >= 2 and release.version != selector:
            raise UsageError(
                f"{entry_id}: Alpine's {branch} index offers {release.version} only",
                f"use {base}@{release.version} (or {base}@{branch[1:]})",
            )
        return _entry(flavour, release, selector, url)
    for each, found, url in _raspios(policy):
        if each != flavour:
            continue
        chosen = releases.pick(found, flavour.name, selector)
        if chosen is not None:
            return _entry(flavour, chosen, selector, url)
        known = ", ".join(f"@{releases.selector(r, found)} ({r.version})" for r in found)
        raise UsageError(
            f"{entry_id}: the Raspberry Pi OS index has no such release",
            f"it lists {known or 'nothing'} for {base}",
        )
    raise AssertionError(flavour)
