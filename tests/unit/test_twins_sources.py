"""The root's apt sources, in both of apt's formats."""

from __future__ import annotations

from armroot.twins.sources import AptSource, deb822_sources, one_line


def test_one_line_sources_with_options_and_comments() -> None:
    text = (
        "# the main archive\n"
        "deb http://deb.debian.org/debian/ trixie main contrib # trailing\n"
        "deb-src http://deb.debian.org/debian trixie main\n"
        "deb [arch=arm64 signed-by=/usr/share/keyrings/k.gpg] http://x.example/d bookworm main\n"
        "deb http://incomplete\n"
    )
    assert one_line(text) == [
        AptSource("http://deb.debian.org/debian", "trixie", ("main", "contrib")),
        AptSource("http://x.example/d", "bookworm", ("main",), ("/usr/share/keyrings/k.gpg",)),
    ]


def test_deb822_sources_one_per_uri_and_suite() -> None:
    text = (
        "Types: deb deb-src\n"
        "URIs: http://deb.debian.org/debian\n"
        "Suites: trixie trixie-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://only.sources\nSuites: trixie\nComponents: main\n"
        "\n"
        "Types: deb\nURIs: http://off\nSuites: trixie\nComponents: main\nEnabled: no\n"
        "\n"
        "Types: deb\nURIs: http://inline\nSuites: trixie\nComponents: main\n"
        "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n"
    )
    key = ("/usr/share/keyrings/debian-archive-keyring.pgp",)
    assert deb822_sources(text) == [
        AptSource("http://deb.debian.org/debian", "trixie", ("main",), key),
        AptSource("http://deb.debian.org/debian", "trixie-updates", ("main",), key),
        AptSource("http://inline", "trixie", ("main",)),
    ]
