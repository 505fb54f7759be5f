"""The indexes armroot reads from the publishers, and what it keeps of them (issue 20):

- Raspberry Pi Imager's OS list (JSON) and Alpine's latest-releases.yaml (images/releases.py);
- the kept copies of fetched indexes (images/indexes.py) and of verified downloads
  (images/download.py: index.json), and checksum files;
- downloads: the file name a URL is kept under, and fetch_bytes on addresses that reach
  nothing beyond this machine (images/download.py).

Debian's control files and apt sources are tested in test_fuzz_debian, OpenPGP packets and
signatures in test_fuzz_openpgp. Inputs mostly follow each format and then break it; each
test states what is accepted."""

from __future__ import annotations

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
from armroot.images import download, indexes, releases
from tests.fuzz.properties import clean_failure, outcome
from tests.fuzz.strategies import HEX, SHA, SHA_LIKE, TEXT
from tests.index_formats import Image, latest_releases, os_list

DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

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
