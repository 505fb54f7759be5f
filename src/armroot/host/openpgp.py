"""OpenPGP as armroot needs it: armor removed, a signature's packet read (pure), a detached
signature checked by the host's gpgv against keys armroot names."""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from armroot.errors import SourceError
from armroot.host import programs


def dearmor(text: str) -> bytes:
    """The binary packets of ASCII-armored blocks (keys or signatures; each block decoded
    on its own, so a file of several keeps them all), what gpgv reads (and what apt does
    with a .asc key before it calls gpgv)."""
    blocks: list[list[str]] = []
    inside = headers = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN PGP "):
            inside = headers = True
            blocks.append([])
        elif line.startswith("-----END PGP "):
            inside = False
        elif inside and headers:
            headers = line != ""  # headers end at the first empty line
        elif inside and not line.startswith("="):  # "=XXXX" is the checksum line
            blocks[-1].append(line)
    try:
        return b"".join(base64.b64decode("".join(b), validate=True) for b in blocks)
    except ValueError as exc:  # binascii.Error, or a character that is not ASCII
        raise SourceError(
            f"an OpenPGP armor block is damaged ({exc})",
            "replace the key or signature file with the publisher's",
        ) from exc


def binary(data: bytes) -> bytes:
    """``data`` as binary packets, whether it came armored or not."""
    if data.lstrip().startswith(b"-----BEGIN PGP "):
        return dearmor(data.decode("ascii", "replace"))
    return data


class SignatureInfo(NamedTuple):
    created: datetime.datetime  # UTC
    issuer: str  # the issuer fingerprint (hex, upper case), or the 16-digit key id


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of each packet. Raises ValueError on a malformed stream."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        head = data[i]
        if not head & 0x80:
            raise ValueError("not an OpenPGP packet")
        if head & 0x40:  # new format
            tag = head & 0x3F
            first = data[i + 1]
            if first < 192:
                length, i = first, i + 2
            elif first < 224:
                length, i = ((first - 192) << 8) + data[i + 2] + 192, i + 3
            elif first == 255:
                length, i = int.from_bytes(data[i + 2 : i + 6], "big"), i + 6
            else:
                raise ValueError("partial-length packets are not expected here")
        else:
            tag = (head >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(head & 3)
            if size is None:
                raise ValueError("indeterminate-length packets are not expected here")
            length, i = int.from_bytes(data[i + 1 : i + 1 + size], "big"), i + 1 + size
        if i + length > len(data):
            raise ValueError("a packet runs past the end")
        out.append((tag, data[i : i + length]))
        i += length
    return out


def _subpackets(area: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(area):
        first = area[i]
        if first < 192:
            length, i = first, i + 1
        elif first < 255:
            length, i = ((first - 192) << 8) + area[i + 1] + 192, i + 2
        else:
            length, i = int.from_bytes(area[i + 1 : i + 5], "big"), i + 5
        if length < 1 or i + length > len(area):
            raise ValueError("a signature subpacket runs past its area")
        out.append((area[i] & 0x7F, area[i + 1 : i + length]))
        i += length
    return out


def signature_info(data: bytes) -> SignatureInfo:
    """When a (v4) signature was made and by which key, read from its packet. Pure; what
    it says is only trusted after gpgv checked the signature."""
    try:
        for tag, body in _packets(binary(data)):
            if tag != 2:
                continue
            if body[0] != 4:
                raise ValueError(f"signature version {body[0]}")
            hashed_len = int.from_bytes(body[4:6], "big")
            hashed = body[6 : 6 + hashed_len]
            created: datetime.datetime | None = None
            issuer = ""
            for kind, value in _subpackets(hashed):  # what the signature covers, only
                if kind == 2 and len(value) == 4:
                    stamp = int.from_bytes(value, "big")
                    created = datetime.datetime.fromtimestamp(stamp, datetime.UTC)
                elif kind == 33 and len(value) >= 21:
                    issuer = value[1:].hex().upper()
                elif kind == 16 and len(value) == 8 and not issuer:
                    issuer = value.hex().upper()
            if not issuer:  # gpg puts the key id in the unhashed area
                issuer = _issuer(body)
            if created is None:
                raise ValueError("no creation time")
            return SignatureInfo(created, issuer)
        raise ValueError("no signature packet")
    except (ValueError, IndexError) as exc:
        raise SourceError(
            f"not an OpenPGP signature armroot can read ({exc})",
            "the .sig file is damaged or not a signature; try again with --refresh",
        ) from exc


def fingerprints(data: bytes) -> list[str]:
    """The v4 fingerprints of the primary keys in a keyring (armored or binary). Pure."""
    try:
        packets = _packets(binary(data))
    except (ValueError, IndexError):
        return []
    out = []
    for tag, body in packets:
        if tag == 6 and body[:1] == b"\x04":
            framed = b"\x99" + len(body).to_bytes(2, "big") + body
            out.append(hashlib.sha1(framed, usedforsecurity=False).hexdigest().upper())
    return out


SHA1 = 2  # OpenPGP's hash algorithm id
_USER_ID_CERTIFICATIONS = (0x10, 0x11, 0x12, 0x13)


def _issuer(body: bytes) -> str:
    """The issuer (fingerprint, else key id) a v4 signature packet names."""
    hashed_len = int.from_bytes(body[4:6], "big")
    rest = body[6 + hashed_len :]
    areas = body[6 : 6 + hashed_len], rest[2 : 2 + int.from_bytes(rest[0:2], "big")]
    issuer = ""
    for kind, value in _subpackets(areas[0]) + _subpackets(areas[1]):
        if kind == 33 and len(value) >= 21:
            return value[1:].hex().upper()
        if kind == 16 and len(value) == 8:
            issuer = value.hex().upper()
    return issuer


def sha1_bound(data: bytes) -> list[str]:
    """The primary keys (fingerprints) in a keyring whose user IDs are bound to them only by
    SHA-1 self-signatures -- which Sequoia's policy (apt 3's sqv) rejects since 2026-02-01,
    so apt sees no valid key at all. Pure."""
    try:
        packets = _packets(binary(data))
    except (ValueError, IndexError):
        return []
    found: list[str] = []
    fingerprint = ""
    hashes: list[int] = []

    def done() -> None:
        if fingerprint and hashes and all(h == SHA1 for h in hashes):
            found.append(fingerprint)

    for tag, body in packets:
        if tag == 6:
            done()
            fingerprint, hashes = "", []
            if body[:1] == b"\x04":
                framed = b"\x99" + len(body).to_bytes(2, "big") + body
                fingerprint = hashlib.sha1(framed, usedforsecurity=False).hexdigest().upper()
        elif tag == 2 and fingerprint and len(body) > 6 and body[0] == 4:
            try:
                issuer = _issuer(body)
            except (ValueError, IndexError):  # a damaged signature binds nothing
                continue
            own = issuer in (fingerprint, fingerprint[-16:])
            if body[1] in _USER_ID_CERTIFICATIONS and own:
                hashes.append(body[3])
    done()
    return found


class Verified(NamedTuple):
    fingerprint: str  # the primary key's fingerprint (upper-case hex)
    created: datetime.datetime


def verify_detached(
    keys: bytes, signature: Path, data: Path, fingerprints: tuple[str, ...], what: str
) -> Verified:
    """Check ``signature`` over ``data`` with gpgv, trusting only ``keys`` (OpenPGP public
    keys, armored or binary), and only a signature by one of ``fingerprints`` (any key of
    ``keys`` when there are none)."""
    gpgv = programs.require_program("gpgv")
    with tempfile.TemporaryDirectory(prefix="armroot-gpgv-") as home:
        ring = Path(home) / "pinned.gpg"
        ring.write_bytes(binary(keys))
        done = programs.run(
            [gpgv, "--homedir", home, "--status-fd", "1", f"--keyring={ring}", signature, data],
            check=False,
            capture=True,
            env={**os.environ, "LC_ALL": "C"},
        )
    valid = [line.split() for line in done.stdout.splitlines() if " VALIDSIG " in line]
    if done.returncode != 0 or not valid:
        said = (done.stderr.strip().splitlines() or ["gpgv failed"])[-1]
        raise SourceError(
            f"{what} is not signed by the key armroot pins for it ({said})",
            "the download was deleted; the file or its signature was altered, or the "
            "publisher changed keys: check the publisher's announcements",
        )
    fields = valid[0]
    primary = (fields[11] if len(fields) > 11 else fields[2]).upper()
    wanted = {f.upper().replace(" ", "") for f in fingerprints}
    if wanted and primary not in wanted:
        raise SourceError(
            f"{what} is signed by key {primary}, not one armroot pins for it",
            "the download was deleted; check the publisher's announcements",
        )
    stamp = int(fields[4]) if fields[4].isdigit() else 0
    return Verified(primary, datetime.datetime.fromtimestamp(stamp, datetime.UTC))
