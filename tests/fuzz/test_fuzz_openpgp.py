"""OpenPGP as armroot reads it (issue 20):

- OpenPGP packets and armor (host/openpgp.py);
- detached signatures checked by gpgv against a pinned key, as images/ uses them for Arch
  Linux ARM's tarballs: keys and signatures from tests/data/openpgp and, for "Stranger", the
  constants below.

Inputs mostly follow each format and then break it; each test states what is accepted."""

from __future__ import annotations

import base64
import datetime
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armroot.errors import SourceError
from armroot.host import openpgp
from tests.fuzz.properties import clean_failure, outcome

# ---- OpenPGP: packets and armor (pure) ----

DATA = Path(__file__).parent.parent / "data" / "openpgp"
HELLO = (DATA / "hello.txt").read_bytes()
SIGNER = openpgp.binary((DATA / "signer.asc").read_bytes())
OTHER = openpgp.binary((DATA / "other.asc").read_bytes())
SIGNER_FPR = "98C81F512B5AD95A5B774590E69AD2762E56CAB2"
OTHER_FPR = "07438283A09F050F005882E9C1385EF2EDD99706"
# "Stranger", a key made for these tests (ed25519, a signing subkey, at a fixed time), and
# its signatures over hello.txt: detached (by the primary key and by the subkey), and the
# same text signed inline and clearsigned, neither of which is a detached signature.
STRANGER = base64.b64decode(
    "mDMEZ3SFgBYJKwYBBAHaRw8BAQdAT/gSsP8eMBuEiFC0RD0UGKtrY+LoIXzbYsqHU8o5uQO0I1N0cmFuZ2VyIDxz"
    "dHJhbmdlckBhcm1yb290LmludmFsaWQ+iJAEExYIADgWIQRTuuSRASqCS4/NZGGzn9KUECRetgUCZ3SFgAIbAwUL"
    "CQgHAgYVCgkICwIEFgIDAQIeAQIXgAAKCRCzn9KUECRetlWGAP9TgaIKeJl7JtW+yH1QlByhaYfeAzLy/v6PG1p+"
    "GvmuhAD/VmBAA3WqKm+t5Rh7fuQjJEfaA4fPGUOvg5ihMth4oQS4MwRndIWAFgkrBgEEAdpHDwEBB0Cf8SZrADMN"
    "Brhxn0bNynLmCkIzg8/7DQZg+xyqLnk8VIjuBBgWCAAgFiEEU7rkkQEqgkuPzWRhs5/SlBAkXrYFAmd0hYACGwIA"
    "gQkQs5/SlBAkXrZ2IAQZFggAHRYhBLW2RXxZN/McVP1mELt3GJAYexnHBQJndIWAAAoJELt3GJAYexnH0kwA/Ah0"
    "vri4tf0j+C7PUkfIuQIdNSFkxxUDviHuJtihSvZfAP9q5F4sVcMzIaIAyKa2NT9SOg8RtBK7wTOi1L9RtXc7Dd0v"
    "AP4mn9zQFqQfxdz06zcz/DESWZd5Yk2TnYg+wAdmdLT0XgD4sK6GpT/gS/bmYcrxflcBPaZV14suwUHRaJeKmmrW"
    "Cw=="
)
STRANGER_FPR = "53BAE491012A824B8FCD6461B39FD29410245EB6"
STRANGER_SUBKEY = "B5B6457C5937F31C54FD6610BB771890187B19C7"
STRANGER_DETACHED = base64.b64decode(
    "iHUEABYIAB0WIQRTuuSRASqCS4/NZGGzn9KUECRetgUCZ3SFgAAKCRCzn9KUECRetnpvAP9AB3fAM7sHqp/ZWofK"
    "R6ms0D3eBbgzbYnpELhk7B7TrwEAuLJl7ku2U9bmi7mPGofLRPdBIEzC0FVmqesC262i3Q8="
)
STRANGER_BY_SUBKEY = base64.b64decode(
    "iHUEABYIAB0WIQS1tkV8WTfzHFT9ZhC7dxiQGHsZxwUCZ3SFgAAKCRC7dxiQGHsZx1PLAQCnBk+vH/ZpeWB+APWQ"
    "3OMV4Qxh00KqOJQcplXouxG1fwEA8rXpnDZYyTyTKmofi3/FW/8uxisTaylfhb/gaZJ1hwk="
)
STRANGER_INLINE = base64.b64decode(
    "owGbwMvMwCG2ef6lKQIqcdsY1+gkcWak5uTk65VUlKSXtDaAOQppRfm5CiUZqQqJRblF+fklCiWpxSXFXB2lLAxi"
    "HAyyYooswbueTGTUavLuP5uSCDONlQlkAgMXpwBMpCqf4b8De/kB493sq+bfjGo/5b5yzQXbe6w7jHM7XwrsSHkj"
    "d3k9I8OOTanvvLcFX3vWvbNfqv20y3dHBZ9DF0LTVr5mur120V1+AA=="
)
STRANGER_CLEARSIGNED = b"""\
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

hello from the armroot tests
-----BEGIN PGP SIGNATURE-----

iHUEARYIAB0WIQRTuuSRASqCS4/NZGGzn9KUECRetgUCZ3SFgAAKCRCzn9KUECRe
thcHAQCu0JHJh+5+8+waoT0V2BqkCr8JpJA/5u3jJfR+mnVDHgD+LpBBA0nX1yQe
Td6khmkxQTqnKjGDHuVU7pcm9hSAtAM=
=LgOW
-----END PGP SIGNATURE-----
"""
REAL_PACKETS = [
    (DATA / "hello.txt.sig").read_bytes(),
    SIGNER,
    OTHER,
    (DATA / "sha1-bound.gpg").read_bytes(),
    STRANGER,
    STRANGER_DETACHED,
    STRANGER_BY_SUBKEY,
    STRANGER_INLINE,
]


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(data: bytes, kind: str = "SIGNATURE") -> bytes:
    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(_crc24(data).to_bytes(3, "big")).decode()
    block = [f"-----BEGIN PGP {kind}-----", "Comment: armroot tests", "", *lines, f"={crc}"]
    return ("\n".join([*block, f"-----END PGP {kind}-----"]) + "\n").encode()


def _length(size: int, style: int) -> bytes:
    """A new-format length: one, two or five octets, or a partial length (224-254)."""
    if style == 0 and size < 192:
        return bytes([size])
    if style == 1 and 192 <= size < 8384:
        return bytes([((size - 192) >> 8) + 192, (size - 192) & 0xFF])
    if style == 2:
        return bytes([224 + (size & 0x1F)])
    return b"\xff" + size.to_bytes(4, "big")


@st.composite
def subpacket_areas(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from([2, 16, 33, 0x80 | 2, 99]))
        value = draw(st.binary(max_size=24))
        size = len(value) + 1 + draw(st.sampled_from([0, 0, 0, 1, -1, 300]))
        out += _length(max(size, 0), draw(st.integers(0, 3))) + bytes([kind]) + value
    return out


@st.composite
def signature_bodies(draw: st.DrawFn) -> bytes:
    """A v4 signature packet's body, its areas' declared lengths sometimes wrong."""
    hashed, unhashed = draw(subpacket_areas()), draw(subpacket_areas())
    skew = draw(st.sampled_from([0, 0, 0, 1, -1, 1000]))
    head = bytes([draw(st.sampled_from([4, 4, 3, 5])), draw(st.sampled_from([0, 0x13])), 22, 2])
    return (
        head
        + max(len(hashed) + skew, 0).to_bytes(2, "big")
        + hashed
        + len(unhashed).to_bytes(2, "big")
        + unhashed
        + draw(st.binary(max_size=8))
    )


@st.composite
def packet_streams(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        tag = draw(st.sampled_from([2, 6, 13, 14, 10, 63]))
        body = draw(st.one_of(signature_bodies(), st.binary(max_size=40)))
        if tag == 6 and draw(st.booleans()):
            body = b"\x04" + body
        if draw(st.booleans()):  # new format
            out += bytes([0xC0 | tag]) + _length(len(body), draw(st.integers(0, 3))) + body
        else:
            style = draw(st.integers(0, 3))
            size = len(body).to_bytes(4, "big")[-(1, 2, 4, 1)[style] :]
            out += bytes([0x80 | (tag << 2) | style]) + (size if style < 3 else b"") + body
    return out[: draw(st.integers(0, len(out)))] if draw(st.integers(0, 4)) == 0 else out


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.integers(0, 3))
        if kind == 0 and data:
            data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
        elif kind == 1:
            data = data[:at]
        elif kind == 2:
            data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
        else:
            data = data + data[at:]
    return data


@st.composite
def openpgp_inputs(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(packet_streams())
    real = draw(st.sampled_from(REAL_PACKETS))
    if kind == 2:
        return draw(mutated(real))
    text = armor(real if kind == 3 else draw(mutated(real)))
    if draw(st.booleans()):
        text = draw(mutated(text))
    return text


@given(openpgp_inputs())
def test_openpgp_packets_are_read_or_refused_in_one_line(data: bytes) -> None:
    got = outcome(lambda: openpgp.signature_info(data))
    if isinstance(got, openpgp.SignatureInfo):
        assert got.created.utcoffset() == datetime.timedelta(0)
        assert got.issuer == "" or re.fullmatch(r"[0-9A-F]{16}|[0-9A-F]{40,}", got.issuer)
    keys = outcome(lambda: openpgp.fingerprints(data))
    weak = outcome(lambda: openpgp.sha1_bound(data))
    if isinstance(keys, list):
        assert all(re.fullmatch(r"[0-9A-F]{40}", k) for k in keys)
        assert isinstance(weak, list) and set(weak) <= set(keys)
    armored = outcome(lambda: openpgp.binary(data))
    assert isinstance(armored, bytes | str)


@given(st.lists(st.binary(max_size=100), min_size=1, max_size=3))
def test_armor_blocks_read_back_as_written(blocks: list[bytes]) -> None:
    text = b"".join(armor(b, "PUBLIC KEY BLOCK") for b in blocks)
    assert openpgp.dearmor(text.decode()) == b"".join(blocks)
    assert openpgp.binary(text) == b"".join(blocks)


def test_the_fixtures_are_who_they_say() -> None:
    assert openpgp.fingerprints(SIGNER) == [SIGNER_FPR]
    assert openpgp.fingerprints(OTHER) == [OTHER_FPR]
    assert openpgp.fingerprints(STRANGER) == [STRANGER_FPR]
    assert openpgp.signature_info(STRANGER_BY_SUBKEY).issuer == STRANGER_SUBKEY


def test_regression_armor_with_a_character_not_ascii() -> None:
    """base64's ValueError for a non-ASCII character (not a binascii.Error) escaped dearmor,
    binary() and verify_detached: a traceback for a damaged key file."""
    with pytest.raises(SourceError) as damaged:
        openpgp.binary(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n\xff\n")
    assert "armor block is damaged" in clean_failure(damaged.value)


def test_regression_sha1_bound_with_a_damaged_signature_packet() -> None:
    """A keyring whose signature packet's subpackets run past their area: sha1_bound()
    read its issuer outside the try, a ValueError traceback."""
    key = b"\x98\x04\x04\x00\x00\x00"  # an (empty) v4 public key packet
    signature = b"\x88\x08\x04\x13\x16\x02\x00\x02\x05\x02"  # hashed area: 2 bytes of 6
    assert openpgp.sha1_bound(key + signature) == []


# ---- OpenPGP: detached signatures checked by gpgv against a pinned key ----

SIGNATURES = {  # name: (the signature, the primary key that made it, when)
    "signer": ((DATA / "hello.txt.sig").read_bytes(), SIGNER_FPR, 1796169276),
    "stranger": (STRANGER_DETACHED, STRANGER_FPR, 1735689600),
    "stranger by subkey": (STRANGER_BY_SUBKEY, STRANGER_FPR, 1735689600),
    "stranger inline": (STRANGER_INLINE, "", 0),
    "stranger clearsigned": (STRANGER_CLEARSIGNED, "", 0),
}
KEYS = {
    "signer": (SIGNER, SIGNER_FPR),
    "other": (OTHER, OTHER_FPR),
    "stranger": (STRANGER, STRANGER_FPR),
}
PINS = st.sampled_from([SIGNER_FPR, STRANGER_FPR, STRANGER_SUBKEY, OTHER_FPR, "0" * 40]).flatmap(
    lambda f: st.sampled_from([f, f.lower(), " ".join(f[i : i + 4] for i in range(0, 40, 4))])
)


@st.composite
def signed_cases(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(SIGNATURES)), min_size=1, max_size=2))
    signature = b"".join(SIGNATURES[n][0] for n in names)
    changed = draw(st.integers(0, 3)) == 0
    if changed:
        signature = draw(mutated(signature))
    if draw(st.integers(0, 4)) == 0 and not signature.startswith(b"-----"):
        signature = armor(signature)  # gpgv reads an armored signature too
    rings = draw(st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=3, unique=True))
    keys = b"".join(KEYS[r][0] for r in rings)
    if draw(st.booleans()):
        keys = b"".join(armor(KEYS[r][0], "PUBLIC KEY BLOCK") for r in rings)
    keys_changed = draw(st.integers(0, 5)) == 0
    if keys_changed:
        keys = draw(mutated(keys))
    data = HELLO if draw(st.integers(0, 2)) else draw(mutated(HELLO))
    return {
        "names": names,
        "signature": signature,
        "changed": changed,
        "rings": rings,
        "keys": keys,
        "keys_changed": keys_changed,
        "pins": tuple(draw(st.lists(PINS, max_size=2))),
        "data": data,
    }


def _pinned(pins: tuple[str, ...]) -> set[str]:
    return {p.upper().replace(" ", "") for p in pins}


@given(signed_cases())
def test_a_signature_check_passes_only_for_the_pinned_key_and_the_data_it_signed(
    case: dict[str, Any],
) -> None:
    """gpgv, as images/ runs it: whatever the signature, keyring, pins and data, a check
    that passes names a primary key of the keyring that made one of the signatures given,
    one of the pins if there are any, and the data is hello.txt unaltered. A signature by
    the key, of the data, pinned, passes."""
    with tempfile.TemporaryDirectory() as tmp:
        signature, data = Path(tmp, "hello.txt.sig"), Path(tmp, "hello.txt")
        signature.write_bytes(case["signature"])
        data.write_bytes(case["data"])
        got = outcome(
            lambda: openpgp.verify_detached(case["keys"], signature, data, case["pins"], "x")
        )
    signers = {SIGNATURES[n][1] for n in case["names"]} - {""}
    ring = {KEYS[r][1] for r in case["rings"]}
    if isinstance(got, openpgp.Verified):
        assert case["data"] == HELLO
        assert got.fingerprint in signers & ring
        assert not case["pins"] or got.fingerprint in _pinned(case["pins"])
        made = {SIGNATURES[n][2] for n in case["names"] if SIGNATURES[n][1] == got.fingerprint}
        assert int(got.created.timestamp()) in made
        return
    (name,) = case["names"] if len(case["names"]) == 1 else ("",)
    if (
        name in SIGNATURES
        and SIGNATURES[name][1] in ring
        and not case["changed"]
        and not case["keys_changed"]
        and case["data"] == HELLO
        and (not case["pins"] or SIGNATURES[name][1] in _pinned(case["pins"]))
    ):
        pytest.fail(f"a good signature ({name}) was refused: {got}")


def test_regression_gpgv_echoing_bytes_not_utf8() -> None:
    """gpgv quotes a damaged armor line on stderr, bytes and all: programs.run decoded its
    output strictly, and a signature with a byte 0x80 there was a UnicodeDecodeError."""
    damaged = STRANGER_CLEARSIGNED.replace(b"\n-----BEGIN PGP SIGNATURE", b"\n-\x80----BEGIN PGP")
    with tempfile.TemporaryDirectory() as tmp:
        signature, data = Path(tmp, "hello.txt.sig"), Path(tmp, "hello.txt")
        signature.write_bytes(damaged)
        data.write_bytes(HELLO)
        with pytest.raises(SourceError) as refused:
            openpgp.verify_detached(STRANGER, signature, data, (STRANGER_FPR,), "hello.txt")
    assert "is not signed by the key armroot pins" in clean_failure(refused.value)
