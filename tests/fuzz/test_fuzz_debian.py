"""Debian's control files and a root's apt sources, as armroot reads them (issue 20):

- deb822 paragraphs: Packages, Release and dpkg's status (twins/deb822.py);
- a root's apt sources, one-line (sources.list) and deb822 (*.sources) (twins/sources.py).

Inputs mostly follow each format and then break it; each test states what is accepted."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from armroot.twins import deb822, sources
from tests.fuzz.strategies import HEX, SHA, SHA_LIKE, TEXT

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
