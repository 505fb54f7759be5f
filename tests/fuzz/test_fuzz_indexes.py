"""The text formats armroot reads from the publishers and from a root (issue 20):

- Raspberry Pi Imager's OS list (JSON) and Alpine's latest-releases.yaml (images/releases.py);
- the kept copies of fetched indexes (images/indexes.py) and of verified downloads
  (images/download.py: index.json), and checksum files;
- Debian's control files: Packages, Release, dpkg's status (twins/deb822.py), and a root's
  apt sources (twins/sources.py);
- OpenPGP packets and armor (host/openpgp.py), and detached signatures checked by gpgv
  against a pinned key, as images/ uses them for Arch Linux ARM's tarballs.

Inputs mostly follow each format and then break it; each test states what is accepted."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import tempfile
import tracemalloc
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from armroot.errors import SourceError
from armroot.host import openpgp
from armroot.images import download, indexes, releases
from armroot.twins import deb822, sources
from tests.fuzz.properties import clean_failure, outcome
from tests.index_formats import Image, latest_releases, os_list

HEX = re.compile(r"[0-9a-f]{64}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SHA = st.text("0123456789abcdef", min_size=64, max_size=64)
# What an index may put where a sha256 goes: one, in upper case, a digit short or long, a
# non-hex or non-ASCII digit in it, padded, or another type.
SHA_LIKE: st.SearchStrategy[str] = st.one_of(
    SHA,
    SHA.map(str.upper),
    SHA.map(lambda h: h[:63]),
    SHA.map(lambda h: h + "0"),
    SHA.map(lambda h: "g" + h[1:]),
    SHA.map(lambda h: "\uff10" + h[1:]),  # a fullwidth zero
    SHA.map(lambda h: f" {h}\n"),
    st.sampled_from(["", " ", "0x" + "0" * 62]),
)
ODD = st.sampled_from(
    ["", " ", "\n", "\r\n", "\u2028", "\x00", "\x1b[31m", "..", "../../x", "é", "\udcff", "\u0663"]
)
TEXT = st.one_of(ODD, st.text(max_size=24))

# ---- Raspberry Pi OS: Imager's OS list ----

WRONG: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(10**300),
    TEXT,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def lite_names(draw: st.DrawFn) -> str:
    date = draw(
        st.one_of(
            st.dates(datetime.date(2000, 1, 1), datetime.date(2099, 12, 31)).map(str),
            st.sampled_from(["2025-1-01", "\u0662\u0660\u0662\u0665-10-01", "2025-10-01x", ""]),
        )
    )
    codename = draw(
        st.one_of(
            st.sampled_from(["trixie", "bookworm", "bullseye", "forky", "Trixie", "tri xie"]),
            st.text("abcxyz", min_size=1, max_size=8),
        )
    )
    arch = draw(st.sampled_from(["arm64", "armhf", "armhf", "armel", "ARM64"]))
    lite = draw(st.sampled_from(["-lite", "-lite", "-lite", "", "-full"]))
    tail = draw(st.sampled_from(["", "", "", "\n", "?x=1", ".sig", "#f", " "]))
    return f"{date}-raspios-{codename}-{arch}{lite}.img.xz{tail}"


@st.composite
def urls(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(WRONG)
    scheme = draw(
        st.sampled_from(
            ["https", "https", "http", "ftp", "file", "javascript", "data", "", "HTTPS"]
        )
    )
    host = draw(
        st.sampled_from(
            [
                "downloads.raspberrypi.com",
                "127.0.0.1:9",
                "[::1]:8080",
                "",
                "a b",
                "user@host",
                "é.example",
                "h\x00",
                "[::1",
                "h:99999",
                "h:x",
            ]
        )
    )
    folder = draw(st.sampled_from(["raspios_lite_arm64/images/x", "", "a b", "..", "%2e%2e", "é"]))
    name = draw(st.one_of(lite_names(), TEXT))
    sep = draw(st.sampled_from(["://", "://", ":", ":///"]))
    return f"{scheme}{sep}{host}/{folder}/{name}"


def field(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """A value of an entry's field: mostly the right kind, sometimes anything."""
    return st.one_of(good, good, good, WRONG)


ENTRY_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "name": field(st.just("Raspberry Pi OS Lite (64-bit)")),
    "url": urls(),
    "extract_sha256": field(SHA_LIKE),
    "image_download_sha256": field(SHA_LIKE),
    "image_download_size": field(st.integers(min_value=-10, max_value=2**40)),
    "extract_size": field(st.integers(min_value=0, max_value=2**40)),
    "release_date": field(
        st.one_of(st.dates().map(str), st.sampled_from(["2025-10-01", "", "yesterday"]))
    ),
    "devices": field(st.lists(st.one_of(st.sampled_from(["pi5-64bit", "pi4-32bit"]), WRONG))),
    "init_format": field(st.just("systemd")),
}


@st.composite
def entries(draw: st.DrawFn, children: st.SearchStrategy[object] | None = None) -> object:
    if draw(st.integers(0, 19)) == 0:
        return draw(WRONG)  # not even an object
    keys = draw(st.lists(st.sampled_from(sorted(ENTRY_FIELDS)), unique=True, max_size=9))
    entry: dict[str, object] = {k: draw(ENTRY_FIELDS[k]) for k in keys}
    if children is not None and draw(st.booleans()):
        entry["subitems"] = draw(st.one_of(st.lists(children, max_size=3), WRONG))
    return entry


ENTRIES: st.SearchStrategy[object] = st.recursive(
    entries(), lambda inner: entries(inner), max_leaves=6
)


@st.composite
def os_list_texts(draw: st.DrawFn) -> str:
    listed = draw(st.lists(ENTRIES, max_size=5))
    shape = draw(st.integers(0, 9))
    document: object = {"imager": {"latest_version": "2.0.0"}, "os_list": listed}
    if shape == 0:
        document = {"os_list": draw(WRONG)}
    elif shape == 1:
        document = listed
    text = json.dumps(document)
    mutation = draw(st.integers(0, 9))
    if mutation == 0:
        text = text[: draw(st.integers(0, len(text)))]
    elif mutation == 1:
        depth = draw(st.sampled_from([10, 100, 100_000]))
        text = f'{{"os_list": [{"[" * depth}{"]" * depth}, {text}]}}'
    elif mutation == 2:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["NaN", "1" * 5000, "\x00", ",", "}"])) + text[at:]
    elif mutation == 3:
        text = draw(st.text(max_size=100))
    return text


def _items(document: object) -> Iterator[dict[str, Any]]:
    """Every object an OS list reaches through os_list and subitems (without recursing)."""
    stack: list[object] = [document.get("os_list")] if isinstance(document, dict) else []
    while stack:
        items = stack.pop()
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                yield item
                stack.append(item.get("subitems"))


def check_raspios_release(release: releases.Release) -> None:
    """What armroot downloads by: an http(s) URL to a host, of a Lite image's file name
    saying the release's date, codename and architecture, and its sha256s."""
    assert release.flavour in ("lite-arm64", "lite-armhf")
    assert re.fullmatch(r"[a-z]+", release.version) and DATE.fullmatch(release.date)
    assert re.fullmatch(r"[!-~]+", release.url), release.url  # printable ASCII, no space
    parts = urllib.parse.urlsplit(release.url)
    assert parts.scheme in ("http", "https") and parts.hostname, release.url
    name = release.url.rsplit("/", 1)[-1]
    assert name.endswith(f"-raspios-{release.version}-{release.flavour[5:]}-lite.img.xz")
    assert release.sha256 == "" or HEX.fullmatch(release.sha256)
    assert HEX.fullmatch(release.extract_sha256)
    assert type(release.size) is int and release.size >= 0
    assert all(isinstance(d, str) for d in release.devices)


@given(os_list_texts())
def test_an_os_list_gives_only_well_formed_releases_or_one_line(text: str) -> None:
    got = outcome(lambda: releases.raspios(text, "os_list.json"))
    if isinstance(got, str):
        return
    listed = list(_items(json.loads(text)))
    for release in got:
        check_raspios_release(release)
        assert any(  # each from an entry of the list, with its sha256s
            item.get("url") == release.url
            and str(item.get("extract_sha256")).lower() == release.extract_sha256
            and release.sha256 in ("", str(item.get("image_download_sha256")).lower())
            for item in listed
        )
    assert len({r.url for r in got}) == len(got)
    assert [r.date for r in got] == sorted((r.date for r in got), reverse=True)


IMAGES = st.builds(
    Image,
    st.dates(datetime.date(2015, 1, 1), datetime.date(2040, 1, 1)).map(str),
    st.sampled_from(["bookworm", "trixie", "forky", "bullseye"]),
    st.sampled_from(["arm64", "armhf"]),
    SHA,
    st.integers(0, 2**33),
    st.one_of(st.just(""), SHA),
)


@given(st.lists(IMAGES, min_size=1, max_size=5, unique_by=Image.filename))
def test_an_os_list_as_imager_has_it_gives_every_lite_image(images: list[Image]) -> None:
    """The other way round: an OS list in its real shape loses nothing."""
    base = "https://downloads.raspberrypi.com"
    got = releases.raspios(os_list(base, images), "os_list.json")
    assert {(r.url, r.extract_sha256, r.sha256, r.size) for r in got} == {
        (f"{base}/{i.path()}", i.extract_sha256, i.sha256, i.size) for i in images
    }
    for release in got:
        check_raspios_release(release)


def test_regression_os_list_nested_too_deeply() -> None:
    """The json module's RecursionError escaped: a traceback."""
    with pytest.raises(SourceError) as deep:
        releases.raspios("[" * 100_000, "os_list.json")
    assert "is not JSON" in clean_failure(deep.value)


def _one_entry(**fields: object) -> str:
    entry = {
        "url": "https://h/d/2025-10-01-raspios-trixie-arm64-lite.img.xz",
        "extract_sha256": "1" * 64,
    }
    return json.dumps({"os_list": [entry | fields]})


def test_regression_os_list_url_not_http() -> None:
    """Any URL whose last part was a Lite image's name was taken: file:, ftp:, no host,
    a trailing newline."""
    for url in (
        "file:///home/x/2025-10-01-raspios-trixie-arm64-lite.img.xz",
        "ftp://h/2025-10-01-raspios-trixie-arm64-lite.img.xz",
        "2025-10-01-raspios-trixie-arm64-lite.img.xz",
        "https://h/a b/2025-10-01-raspios-trixie-arm64-lite.img.xz",
        "https://h/2025-10-01-raspios-trixie-arm64-lite.img.xz\n",
    ):
        assert releases.raspios(_one_entry(url=url), "os_list.json") == []


def test_regression_os_list_size_and_date_of_another_type() -> None:
    """A bool (or negative) image_download_size was the size; a release_date of 5, "5"."""
    (got,) = releases.raspios(_one_entry(image_download_size=True, release_date=5), "os_list.json")
    assert got.size == 0 and type(got.size) is int and got.date == "2025-10-01"
    (got,) = releases.raspios(_one_entry(image_download_size=-1), "os_list.json")
    assert got.size == 0


# ---- Alpine: latest-releases.yaml ----

FOLDER = "https://dl-cdn.alpinelinux.org/alpine/latest-stable/releases/aarch64"
YAML_VALUE: st.SearchStrategy[object] = st.one_of(
    TEXT,
    st.integers(),
    st.none(),
    st.booleans(),
    st.lists(TEXT, max_size=3),
    st.dictionaries(TEXT, TEXT, max_size=2),
)
ALPINE_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "flavor": st.sampled_from(["alpine-minirootfs", "alpine-minirootfs", "alpine-standard"]),
    "file": st.one_of(
        st.just("alpine-minirootfs-3.22.2-aarch64.tar.gz"),
        st.sampled_from(["", ".", "..", "a/b", "?x", "#", "a b", "a\nb", ".hidden", "x.tgz"]),
        YAML_VALUE,
    ),
    "sha256": st.one_of(SHA_LIKE, YAML_VALUE),
    "size": st.one_of(
        st.integers(0, 2**40).map(str),
        st.sampled_from(["²", "\u0663", "-1", "1e9", "0x10", "9" * 5000, " 12 "]),
        YAML_VALUE,
    ),
    "version": st.one_of(st.just("3.22.2"), YAML_VALUE),
    "date": st.one_of(st.just("2025-10-08"), YAML_VALUE),
    "time": st.just("08:41:58"),
}


@st.composite
def alpine_texts(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=120))
    if kind == 1:  # (PyYAML takes ~0.1 s to reach 600 "[", deeper than it can compose)
        depth = draw(st.sampled_from([10, 600]))
        return draw(
            st.sampled_from(["[" * depth + "]" * depth, "- " * depth + "x", "{a: " * depth])
        )
    if kind == 2:  # the real file, with generated values written in
        return latest_releases(
            "aarch64",
            draw(st.sampled_from(["3.22.2", "3.21.0", "edge", ""])),
            draw(st.one_of(st.just("alpine-minirootfs-3.22.2-aarch64.tar.gz"), TEXT)),
            draw(SHA_LIKE),
            draw(st.integers(-5, 2**40)),
            draw(st.one_of(st.just("2025-10-08"), TEXT)),
        )
    items = draw(
        st.lists(
            st.one_of(
                st.fixed_dictionaries({}, optional={k: v for k, v in ALPINE_FIELDS.items()}).map(
                    dict
                ),
                YAML_VALUE,
            ),
            max_size=3,
        )
    )
    document: object = items if draw(st.integers(0, 9)) else {"releases": items}
    text = yaml.safe_dump(document, allow_unicode=draw(st.booleans()))
    if kind == 3:
        text = text[: draw(st.integers(0, len(text)))]
    elif kind == 4:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["*x", "&a", "!!python/name:os.system", ":", "\t"]))
        text += text[at:]
    return text


def check_alpine_release(release: releases.Release, text: str) -> None:
    """The tarball beside the index: a plain file name in ``FOLDER``, its sha256, a size;
    no field longer than the whole index (nothing an alias expanded)."""
    assert release.flavour == "aarch64"
    assert release.url.startswith(FOLDER + "/")
    name = release.url[len(FOLDER) + 1 :]
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name), name  # not "..", "?", "/"...
    assert HEX.fullmatch(release.sha256)
    assert type(release.size) is int and release.size >= 0
    for value in (release.version, release.date):
        assert isinstance(value, str) and len(value) <= len(text)


@given(alpine_texts())
def test_latest_releases_gives_a_well_formed_minirootfs_or_one_line(text: str) -> None:
    got = outcome(lambda: releases.alpine(text, "latest-releases.yaml", "aarch64", FOLDER))
    if isinstance(got, str):
        return
    check_alpine_release(got, text)
    data = yaml.load(text, Loader=yaml.BaseLoader)
    first = next(i for i in data if isinstance(i, dict) and i.get("flavor") == "alpine-minirootfs")
    assert got.url == f"{FOLDER}/{first['file']}" and got.sha256 == first["sha256"].lower()


def _bomb(depth: int, width: int, field: str) -> str:
    """latest-releases.yaml whose minirootfs ``field`` is an alias to ``width`` ** ``depth``
    strings, built of ``depth`` lists of aliases (a billion laughs)."""
    lines = [f"- &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"- &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    item = {
        "flavor": "alpine-minirootfs",
        "file": "alpine-minirootfs-3.22.2-aarch64.tar.gz",
        "sha256": "6" * 64,
        "size": "4000000",
        "version": "3.22.2",
        "date": "2025-10-08",
    } | {field: f"*a{depth - 1}"}
    lines.append("- " + "\n  ".join(f"{k}: {v}" for k, v in item.items()))
    return "\n".join(lines) + "\n"


BOMB_FIELDS = st.sampled_from(["sha256", "file", "size", "version", "date", "flavor"])


@given(st.integers(1, 7), st.integers(2, 9), BOMB_FIELDS)
def test_aliases_in_latest_releases_are_never_expanded(depth: int, width: int, field: str) -> None:
    """A YAML bomb costs what its text does: memory stays far below what expanding it
    would take (9 ** 7 strings are ~30 MiB as text)."""
    text = _bomb(depth, width, field)
    tracemalloc.start()
    try:
        got = outcome(lambda: releases.alpine(text, "latest-releases.yaml", "aarch64", FOLDER))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes for a {len(text)}-byte index"
    if not isinstance(got, str):
        check_alpine_release(got, text)


def test_regression_alpine_yaml_bomb_not_expanded() -> None:
    """str() of an aliased value expanded it: 9 ** 7 strings for a 500-byte index."""
    text = _bomb(7, 9, "sha256")
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="no file or sha256"):
            releases.alpine(text, "latest-releases.yaml", "aarch64", FOLDER)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    got = releases.alpine(_bomb(7, 9, "version"), "x.yaml", "aarch64", FOLDER)
    assert got.version == ""


def test_regression_alpine_yaml_nested_too_deeply() -> None:
    """PyYAML's RecursionError escaped: a traceback."""
    with pytest.raises(SourceError) as deep:
        releases.alpine("[" * 1000, "latest-releases.yaml", "aarch64", FOLDER)
    assert "is not YAML" in clean_failure(deep.value)


def test_regression_alpine_size_not_ascii_digits_or_huge() -> None:
    """str.isdigit() is true of "²", which int() refuses; 5000 digits int() refuses too:
    both were ValueError tracebacks."""
    for size in ("²", "9" * 5000):
        text = latest_releases("aarch64", "3.22.2", "a.tar.gz", "6" * 64, 1).replace(
            "size: 1\n", f"size: {size}\n"
        )
        assert releases.alpine(text, "x.yaml", "aarch64", FOLDER).size == 0


def test_regression_alpine_file_not_a_plain_name() -> None:
    """file: .. (or ?x, a space, a newline) made a URL of the folder itself, or another."""
    for name in ("..", ".", "?x", '"a b"', '"a\\nb"'):
        text = latest_releases("aarch64", "3.22.2", name, "6" * 64, 1)
        with pytest.raises(SourceError, match="no file or sha256"):
            releases.alpine(text, "x.yaml", "aarch64", FOLDER)


# ---- checksum files ----

TARGET = "2025-10-01-raspios-trixie-arm64-lite.img.xz"


@st.composite
def checksum_lines(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(TEXT)
    if kind == 1:
        return "# " + draw(TEXT)
    if kind == 2:
        return f"SHA256 ({TARGET}) = {draw(SHA)}"  # BSD style: not read
    digest = draw(SHA_LIKE)
    sep = draw(st.sampled_from(["  ", " *", " ", "\t", "  ./", " *dir/", "  "]))
    name = draw(
        st.one_of(
            st.sampled_from([TARGET, TARGET, "other.img.xz", TARGET + ".sig", TARGET.upper()]),
            st.sampled_from(["", "a b", f"{TARGET} extra", f"*{TARGET}"]),
            TEXT,
        )
    )
    return f"{digest}{sep}{name}" if kind != 3 else digest


@st.composite
def checksum_files(draw: st.DrawFn) -> str:
    lines = draw(st.lists(checksum_lines(), max_size=6))
    end = draw(st.sampled_from(["\n", "\r\n", "\n", "\u2028"]))
    return end.join(lines) + draw(st.sampled_from(["", end]))


def _first_words(text: str) -> set[str]:
    return {line.split()[0].lower() for line in text.splitlines() if line.split()}


@given(checksum_files(), SHA)
def test_a_checksum_file_gives_a_sha256_it_holds_or_one_line(text: str, first: str) -> None:
    try:
        got = download.parse_checksum_file(text, TARGET, "sha256")
    except SourceError as exc:
        clean_failure(exc)
    else:
        assert HEX.fullmatch(got) and got in _first_words(text)
    # a line naming the file comes first: its hash, whatever follows
    named = f"{first.upper()}  {TARGET}\n{text}"
    assert download.parse_checksum_file(named, TARGET, "sha256") == first


@given(st.one_of(TEXT, st.text(max_size=80), urls().map(str)))
def test_a_download_is_named_by_a_plain_file_name(url: str) -> None:
    name = download.filename(url)
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", name) and name.strip("."), name


def test_regression_filename_of_a_url_ending_in_dots() -> None:
    """A URL ending in /.. or /. named the download ".." or ".": its cache folder's parent."""
    for url in ("https://h/..", "https://h/x/.", "https://h/a/../", "https://h/..?x"):
        assert download.filename(url) == "download"


# Addresses that reach nothing beyond this machine: loopback, no host, unknown schemes.
LOCAL_URLS = st.one_of(
    st.builds(
        "{}{}{}/{}".format,
        st.sampled_from(["http", "https", "", "bogus", "HTTP", "ht tp", "http\n"]),
        st.sampled_from(["://", ":", ":///"]),
        st.sampled_from(["127.0.0.1:9", "[::1]:9", "", "127.0.0.1:x", "[::1", "127.0.0.1:99999"]),
        st.one_of(TEXT, st.text(max_size=40)),
    ),
    st.builds("data:{}".format, st.one_of(TEXT, st.just(";base64,%%%"), st.just(",hello"))),
)


@given(LOCAL_URLS)
def test_a_small_file_is_fetched_or_refused_in_one_line(url: str) -> None:
    with mock.patch.dict(os.environ, {"no_proxy": "*", "NO_PROXY": "*"}):
        got = outcome(lambda: download.fetch_bytes(url, 1024))
    assert isinstance(got, str) or url.startswith("data:"), got  # nothing else answers


def test_regression_url_without_scheme_or_not_ascii() -> None:
    """urllib's ValueError (no scheme, an unclosed [) and UnicodeEncodeError (a non-ASCII
    path) escaped fetch_bytes and download: tracebacks."""
    for url in ("noscheme", "http://[::1/", "http://127.0.0.1:9/é"):
        with pytest.raises(SourceError) as bad:
            download.fetch_bytes(url)
        assert "not a usable URL" in clean_failure(bad.value)


# ---- the kept record of verified downloads (downloads/index.json) ----

GOOD_SHA = "5" * 64
INDEX_VALUES: st.SearchStrategy[object] = st.one_of(
    st.just(GOOD_SHA),
    st.sampled_from(["../../witness", "/", "", ".", "..", GOOD_SHA.upper(), GOOD_SHA + "/.."]),
    WRONG,
)


@st.composite
def download_indexes(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=40))
    if kind == 1:
        return b'{"u": ' + b"[" * draw(st.sampled_from([10, 100_000]))
    if kind == 2:
        return json.dumps(draw(WRONG)).encode()
    mapping = draw(st.dictionaries(st.sampled_from(["u", "v", ""]), INDEX_VALUES, max_size=3))
    return json.dumps(mapping).encode()


@given(
    download_indexes(),
    st.sampled_from(["u", "v", "", "w"]),
    st.one_of(st.none(), st.sampled_from([GOOD_SHA, "../../witness", "/", "", "..", "a" * 64])),
)
def test_a_damaged_download_index_never_names_a_file_outside_the_cache(
    record: bytes, url: str, pinned: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        (top / "witness").mkdir()
        (top / "witness" / "precious").write_text("the host's file\n")
        root = top / "cache" / "downloads"
        (root / GOOD_SHA).mkdir(parents=True)
        (root / GOOD_SHA / "pi.img.xz").write_bytes(b"verified")
        (root / "index.json").write_bytes(record)
        with mock.patch.dict(os.environ, {"ARMROOT_CACHE": str(top / "cache")}):
            kept = download._Index(root).read()
            got = download.cached(url, pinned)
        assert all(isinstance(k, str) and HEX.fullmatch(v) for k, v in kept.items())
        if got is not None:
            assert HEX.fullmatch(got.sha256) and got.path.parent == root / got.sha256
            assert got.path.read_bytes() == b"verified"


def test_regression_download_index_not_a_mapping() -> None:
    """index.json holding a list was an AttributeError traceback on every download."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "index.json").write_text("[]")
        assert download._Index(Path(tmp)).read() == {}


def test_regression_download_index_digest_is_a_path() -> None:
    """A digest of "../../witness" (in index.json, or a --sha256 given before it was
    checked) named a folder outside downloads/, and its first file was "the verified copy"."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "witness").mkdir()
        (Path(tmp) / "witness" / "precious").write_text("the host's file\n")
        root = Path(tmp) / "cache" / "downloads"
        root.mkdir(parents=True)
        (root / "index.json").write_text(json.dumps({"u": "../../witness"}))
        with mock.patch.dict(os.environ, {"ARMROOT_CACHE": str(Path(tmp) / "cache")}):
            assert download.cached("u") is None
            assert download.cached("x", "../../witness") is None


# ---- the kept copies of fetched indexes ----

INDEX_URLS = st.one_of(
    st.just("https://downloads.raspberrypi.com/os_list_imagingutility_v4.json"),
    st.builds("https://h/{}".format, TEXT),
)
MUTATIONS = (
    "none",
    "older",  # fetched two days ago: still what made it
    "another url",  # the record of another URL at this URL's paths
    "body flipped",
    "body appended",
    "body truncated",
    "body emptied",
    "body missing",
    "meta missing",
    "meta sha256",
    "meta url",
    "meta naive time",
    "meta future time",
    "meta time number",
    "meta garbage",
    "meta deep",
    "meta bytes",
    "meta list",
)


def _mutate(url: str, body: bytes, mutation: str, at: int) -> str:
    """Alter the kept record of ``url`` (``body``): the URL whose paths now hold it."""
    body_path, meta_path = indexes._paths(url)
    meta = json.loads(meta_path.read_text())
    when = datetime.datetime.fromisoformat(meta["fetched"])
    if mutation == "another url":
        other = url + "/other"
        for mine, theirs in zip(indexes._paths(url), indexes._paths(other), strict=True):
            theirs.write_bytes(mine.read_bytes())
        return other
    if mutation == "body flipped" and body:
        at %= len(body)
        body_path.write_bytes(body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :])
    elif mutation == "body appended":
        body_path.write_bytes(body + b"\n")
    elif mutation == "body truncated" and body:
        body_path.write_bytes(body[: at % len(body)])
    elif mutation == "body emptied" and body:
        body_path.write_bytes(b"")
    elif mutation == "body missing":
        body_path.unlink()
    elif mutation == "meta missing":
        meta_path.unlink()
    elif mutation == "meta bytes":
        meta_path.write_bytes(b"\xff" + meta_path.read_bytes())
    elif mutation == "meta garbage":
        meta_path.write_text(meta_path.read_text()[: at % 40])
    elif mutation == "meta deep":
        meta_path.write_text('{"url": ' + "[" * 100_000)
    elif mutation == "meta list":
        meta_path.write_text(json.dumps([meta]))
    else:
        changed = {
            "older": {"fetched": (when - datetime.timedelta(days=2)).isoformat()},
            "meta sha256": {"sha256": hashlib.sha256(body + b"x").hexdigest()},
            "meta url": {"url": url + "x"},
            "meta naive time": {"fetched": when.replace(tzinfo=None).isoformat()},
            "meta future time": {"fetched": (when + datetime.timedelta(days=400)).isoformat()},
            "meta time number": {"fetched": 1700000000},
        }.get(mutation, {})
        meta_path.write_text(json.dumps(meta | changed))
    return url


@given(
    INDEX_URLS,
    st.binary(max_size=64),
    st.sampled_from(MUTATIONS),
    st.integers(0, 1 << 16),
    st.sampled_from(indexes.POLICIES),
    st.one_of(st.none(), st.binary(max_size=64)),
    st.booleans(),
)
def test_a_kept_index_that_does_not_match_what_made_it_is_never_used(
    url: str,
    body: bytes,
    mutation: str,
    at: int,
    policy: str,
    answer: bytes | None,
    accepted: bool,
) -> None:
    """Whatever happened to the kept copy, what armroot reads is the body that was kept for
    this URL, unaltered, or what the publisher answered now (when the check took it); and
    the kept copy changes only to an answer the check took."""
    calls: list[str] = []

    def fetch(address: str, limit: int) -> bytes:
        calls.append(address)
        if answer is None:
            raise SourceError(f"cannot reach {address}: [Errno 111] Connection refused")
        return answer

    def check(text: str) -> object:
        if not accepted:
            raise SourceError("not an index")
        return text

    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"ARMROOT_CACHE": tmp}):
        indexes._keep(url, body)
        read_at = _mutate(url, body, mutation, at)
        before = indexes.kept(read_at)
        if mutation in ("none", "older"):
            assert before is not None and before.body == body
        assert before is None or (before.url == read_at == url and before.body == body)
        with mock.patch.object(download, "fetch_bytes", fetch):
            got = outcome(lambda: indexes.load(read_at, "the index", policy, check))
        after = indexes.kept(read_at)
    taken = bool(calls) and answer is not None and accepted
    if isinstance(got, indexes.Index):
        assert got.url == read_at
        assert got.body == (answer if taken else body)
        assert taken or before is not None
    if policy == "offline":
        assert not calls
    elif policy == "refresh" or before is None:
        assert calls
    elif (
        not datetime.timedelta(0)
        <= datetime.datetime.now(datetime.UTC) - before.fetched
        < (indexes.MAX_AGE)
    ):
        assert calls  # a copy older than a day, or dated in the future, is fetched anew
    if taken:
        assert after is not None and after.body == answer
    else:
        assert (after is None) == (before is None)
        assert after is None or after.body == body


def test_regression_kept_index_with_a_naive_or_future_time() -> None:
    """A kept copy's time without a zone made load() a TypeError traceback (naive minus
    aware); one in the future was used without refresh for as long as the clock lagged."""
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"ARMROOT_CACHE": tmp}):
        url = "https://h/os_list.json"
        indexes._keep(url, b"{}")
        _, meta_path = indexes._paths(url)
        meta = json.loads(meta_path.read_text())
        meta_path.write_text(json.dumps(meta | {"fetched": "2025-01-01T00:00:00"}))
        assert indexes.kept(url) is None
        meta_path.write_text(json.dumps(meta | {"fetched": "2999-01-01T00:00:00+00:00"}))
        with mock.patch.object(download, "fetch_bytes", return_value=b"new") as fetch:
            assert indexes.load(url, "the index").body == b"new"
        fetch.assert_called_once()


def test_regression_kept_index_meta_nested_too_deeply() -> None:
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"ARMROOT_CACHE": tmp}):
        url = "https://h/os_list.json"
        indexes._keep(url, b"{}")
        indexes._paths(url)[1].write_text("[" * 100_000)
        assert indexes.kept(url) is None


def test_regression_index_url_with_an_undecodable_byte() -> None:
    """An address from the environment holding a byte that is not UTF-8 (a lone surrogate)
    was a UnicodeEncodeError traceback when its kept copy was looked for."""
    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"ARMROOT_CACHE": tmp}):
        url = "https://h/\udcff.json"
        assert indexes.kept(url) is None
        indexes._keep(url, b"{}")
        kept = indexes.kept(url)
        assert kept is not None and kept.body == b"{}"


# ---- Debian's control files ----

NAMES = st.one_of(
    st.sampled_from(
        [
            "Package",
            "Version",
            "Architecture",
            "Source",
            "Depends",
            "Pre-Depends",
            "Built-Using",
            "Filename",
            "SHA256",
            "Size",
            "Status",
            "Description",
        ]
    ),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True),
)
# A value's text: anything but a newline, including what other splitters end lines at.
LINE = st.text(st.characters(exclude_characters="\n\r"), max_size=20).map(str.strip)
SEPARATORS = st.sampled_from(["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1e"])
FIRST_LINES = st.one_of(
    LINE,
    st.builds("{}{}{}".format, LINE, SEPARATORS, LINE).map(str.strip),
    st.builds("x{0}{0}Package: evil{0}SHA256: {1}".format, SEPARATORS, SHA),
)
CONTINUATION = st.one_of(LINE, st.just(".")).filter(bool)


@st.composite
def paragraph_models(draw: st.DrawFn) -> list[tuple[str, str]]:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    fields = []
    for name in names:
        lines = [draw(FIRST_LINES), *draw(st.lists(CONTINUATION, max_size=2))]
        fields.append((name, "\n".join(lines)))
    return fields


def write_deb822(paragraphs: list[list[tuple[str, str]]], blank: str, end: str) -> str:
    out = []
    for fields in paragraphs:
        lines = []
        for name, value in fields:
            first, *more = value.split("\n")
            lines.append(f"{name}: {first}")
            lines += [f" {line}" for line in more]
        out.append(end.join(lines))
    return (end + blank + end).join(out) + end


BLANKS = st.sampled_from(["", " ", "\t", " \t "])
ENDS = st.sampled_from(["\n", "\n", "\r\n"])


@given(st.lists(paragraph_models(), max_size=4), BLANKS, ENDS)
def test_deb822_paragraphs_read_back_as_written(
    model: list[list[tuple[str, str]]], blank: str, end: str
) -> None:
    """Field for field, with continuation lines; a line or paragraph separator other than a
    newline inside a value (U+2028, a form feed...) neither ends it nor starts a paragraph."""
    text = write_deb822(model, blank, end)
    assert list(deb822.paragraphs(text)) == [dict(fields) for fields in model]


def _size_like() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(0, 2**63).map(str),
        st.sampled_from(["", "-1", "x", "²", "٣", "1e3", "9" * 5000, " 7 ", "0x10"]),
    )


@st.composite
def control_texts(draw: st.DrawFn) -> str:
    """Packages, status and Release files as an archive or a root could hold them, broken:
    fields missing or given twice, bad sizes and hashes, continuation lines anywhere."""
    paragraphs: list[list[tuple[str, str]]] = []
    for _ in range(draw(st.integers(0, 4))):
        fields: list[tuple[str, str]] = []
        for name in draw(st.lists(NAMES, max_size=8)):  # (names may repeat)
            value = {
                "SHA256": st.one_of(SHA_LIKE, st.just("")),
                "Size": _size_like(),
                "Status": st.sampled_from(["install ok installed", "deinstall ok config-files"]),
            }.get(name, FIRST_LINES)
            fields.append((name, draw(value)))
        if draw(st.booleans()):
            lines = [
                f"{draw(SHA_LIKE)} {draw(_size_like())} {draw(TEXT)}"
                for _ in range(draw(st.integers(0, 3)))
            ]
            fields.append(("SHA256", "\n".join(["", *lines])))
        paragraphs.append(fields)
    text = write_deb822(paragraphs, draw(BLANKS), draw(ENDS))
    if draw(st.integers(0, 4)) == 0:
        text = draw(st.text(max_size=100)) + text
    return text


def check_package(package: deb822.Package) -> None:
    assert package.sha256 == "" or HEX.fullmatch(package.sha256)  # a folder's name in the cache
    assert type(package.size) is int and 0 <= package.size < 10**19
    assert isinstance(package.name, str) and isinstance(package.version, str)


@given(control_texts())
def test_control_files_give_well_formed_packages(text: str) -> None:
    for offers in deb822.index(text).values():
        for package in offers:
            check_package(package)
    for name, package in deb822.installed(text).items():
        assert package.name == name
        check_package(package)
    for path, (digest, size) in deb822.release_sha256(text).items():
        assert path in text and digest in text.lower() and type(size) is int and size >= 0
        assert re.fullmatch(r"[0-9a-f]{64}", digest), digest  # names a cache file and a URL


def test_regression_control_files_with_bad_numbers_or_fields() -> None:
    """Size: x in Packages, a Release line's size not a number (ValueError), an installed
    status paragraph without Package (KeyError): tracebacks."""
    assert deb822.index("Package: a\nVersion: 1\nSize: x\n")["a"][0].size == 0
    assert deb822.index("Package: a\nVersion: 1\nSize: ²\n")["a"][0].size == 0
    assert deb822.release_sha256("SHA256:\n abc xyz main/binary-amd64/Packages.xz\n") == {}
    assert deb822.installed("Status: install ok installed\nVersion: 1\n") == {}


def test_regression_package_sha256_is_a_path() -> None:
    """A package's SHA256 names its folder in the twins cache: "../../x" was taken, and a
    tree there would have been removed and replaced."""
    (got,) = deb822.index("Package: a\nVersion: 1\nSHA256: ../../../home\n")["a"]
    assert got.sha256 == ""
    (got,) = deb822.index(f"Package: a\nVersion: 1\nSHA256: {'A' * 64}\n")["a"]
    assert got.sha256 == "a" * 64


def test_regression_line_separator_in_a_value_is_not_a_new_paragraph() -> None:
    """str.splitlines() ends lines at U+2028 (and \\x85, \\x0c...): a Description holding
    two of them started a paragraph of its own, a package the archive does not offer."""
    text = "Package: a\nVersion: 1\nDescription: x\u2028\u2028Package: libc6\u2028Version: 9\n"
    assert list(deb822.index(text)) == ["a"]


# ---- a root's apt sources ----

WORD = st.from_regex(r"[A-Za-z0-9._:+~-][A-Za-z0-9._:/+~-]{0,12}", fullmatch=True)
URIS = st.one_of(
    st.sampled_from(["http://deb.debian.org/debian", "https://archive.raspberrypi.com/debian/"]),
    st.builds("http://{}".format, WORD),
)
KEYRINGS = st.lists(st.from_regex(r"/[a-z/]{1,12}\.gpg", fullmatch=True), max_size=2)


@st.composite
def one_line_models(draw: st.DrawFn) -> tuple[list[str], list[sources.AptSource]]:
    lines: list[str] = []
    expected: list[sources.AptSource] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 4))
        if kind == 0:  # a comment, maybe holding what splitlines() would end a line at
            lines.append("# " + draw(LINE) + draw(SEPARATORS) + "deb http://evil/ x main")
            continue
        if kind == 1:
            lines.append(f"deb-src {draw(URIS)} {draw(WORD)} main")
            continue
        uri, suite = draw(URIS), draw(WORD)
        components = draw(st.lists(WORD, min_size=1, max_size=3))
        keys = draw(KEYRINGS)
        options = draw(st.sampled_from(["", "arch=arm64 "]))
        if keys:
            options += f"signed-by={','.join(keys)}"
        opened = f"[{options.strip()}] " if options.strip() else ""
        comment = draw(st.sampled_from(["", " # trailing"]))
        lines.append(f"deb {opened}{uri} {suite} {' '.join(components)}{comment}")
        expected.append(sources.AptSource(uri.rstrip("/"), suite, tuple(components), tuple(keys)))
    return lines, expected


@given(one_line_models(), ENDS)
def test_sources_list_entries_read_back_as_written(
    model: tuple[list[str], list[sources.AptSource]], end: str
) -> None:
    lines, expected = model
    assert sources.one_line(end.join(lines)) == expected


def check_source(source: sources.AptSource) -> None:
    assert source.uri and not source.uri.endswith("/") and not re.search(r"\s", source.uri)
    assert source.suite and not re.search(r"\s", source.suite)
    assert all(c and not re.search(r"\s", c) for c in source.components)
    assert all(k for k in source.signed_by)


SOURCE_PIECES = st.sampled_from(
    ["deb", "deb-src", " ", "[", "]", "signed-by=", "/k.gpg", ",", "/", "http://h/", "#", "\n"]
)
SOURCE_TEXTS = st.one_of(
    st.text(max_size=80), st.lists(st.one_of(SOURCE_PIECES, WORD), max_size=16).map("".join)
)


@given(SOURCE_TEXTS)
def test_any_sources_list_gives_well_formed_sources(text: str) -> None:
    for source in sources.one_line(text):
        check_source(source)
        assert source.components


@given(st.one_of(control_texts(), SOURCE_TEXTS), st.lists(st.sampled_from(["/", "//"])))
def test_any_sources_file_gives_well_formed_sources(text: str, uris: list[str]) -> None:
    text += f"\nTypes: deb\nURIs: {' '.join(uris)} http://h/\nSuites: s\n"
    for source in sources.deb822_sources(text):
        check_source(source)


def test_regression_apt_uri_of_slashes_only() -> None:
    """ "deb / s main" (or URIs: /) gave a source whose URI was "", fetched as /dists/..."""
    assert sources.one_line("deb / s main\n") == []
    assert sources.deb822_sources("Types: deb\nURIs: /\nSuites: s\nComponents: main\n") == []


def test_regression_line_separator_in_a_sources_list_comment() -> None:
    """A comment holding U+2028 ended there for splitlines(): what followed was a source."""
    assert sources.one_line("# note\u2028deb http://evil/ x main\n") == []


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
