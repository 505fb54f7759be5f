"""What armroot keeps of what it fetches, and how it fetches (issue 20):

- the kept copies of fetched indexes (images/indexes.py) and of verified downloads
  (images/download.py: index.json), and checksum files;
- downloads: the file name a URL is kept under, and fetch_bytes on addresses that reach
  nothing beyond this machine (images/download.py).

The publishers' release lists are tested in test_fuzz_releases, Debian's control files and
apt sources in test_fuzz_debian, OpenPGP packets and signatures in test_fuzz_openpgp. Inputs
mostly follow each format and then break it; each test states what is accepted."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armroot.errors import SourceError
from armroot.images import download, indexes
from tests.fuzz.properties import clean_failure, outcome
from tests.fuzz.strategies import HEX, SHA, SHA_LIKE, TEXT, WRONG
from tests.fuzz.test_fuzz_releases import urls

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
