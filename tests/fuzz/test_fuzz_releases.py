"""The release lists armroot reads from the publishers (issue 20), images/releases.py:
Raspberry Pi Imager's OS list (JSON) and Alpine's latest-releases.yaml. Inputs mostly follow
each format and then break it; each test states what is accepted.

The kept copies of fetched indexes, checksum files and downloads are tested in
test_fuzz_indexes, Debian's control files and apt sources in test_fuzz_debian."""

from __future__ import annotations

import datetime
import json
import re
import tracemalloc
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from armroot.errors import SourceError
from armroot.images import releases
from tests.fuzz.properties import clean_failure, outcome
from tests.fuzz.strategies import HEX, SHA, SHA_LIKE, TEXT, WRONG
from tests.index_formats import Image, latest_releases, os_list

DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# ---- Raspberry Pi OS: Imager's OS list ----


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
