"""Helper addresses (distribute.hosts): --distribute, armroot.toml's [distribute] hosts and
DISTCC_HOSTS come from users and their environment."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from armroot.distribute import hosts
from tests.fuzz.properties import outcome

# Text near the grammar (HOST[:PORT][/JOBS], brackets, separators) and anything at all.
_PIECES = st.sampled_from(
    [
        "[",
        "]",
        ":",
        "/",
        ",",
        " ",
        "::1",
        "10.0.0.5",
        "a-b.c",
        "0",
        "65535",
        "3632",
        "99999999999999999999",
        "-",
        "@",
        "localhost",
        "\n",
        "\x00",
    ]
)
NEAR = st.lists(_PIECES, max_size=8).map("".join)
TEXT = st.one_of(NEAR, st.text(max_size=40))


@given(TEXT)
def test_a_helper_address_parses_or_is_one_line(text: str) -> None:
    got = outcome(lambda: hosts.parse(text))
    if isinstance(got, hosts.Host):
        assert 0 < got.port < 65535 and (got.jobs is None or 0 < got.jobs <= 1024)
        assert hosts.parse(got.label) == got._replace(jobs=None)  # the label reads back


@given(st.lists(TEXT, max_size=4))
def test_helper_lists_have_each_helper_once(words: list[str]) -> None:
    got = outcome(lambda: hosts.parse_many(words))
    if isinstance(got, tuple):
        labels = [h.label for h in got]
        assert len(labels) == len(set(labels))


@given(TEXT)
def test_distcc_hosts_never_fails_and_keeps_what_it_skips(value: str) -> None:
    found, skipped = hosts.from_distcc_hosts(value)
    assert all(word in value for word in skipped)
    assert all(0 < h.port < 65535 for h in found)


def test_regression_a_newline_in_a_helper_address_stays_one_line() -> None:
    """Found by test_a_helper_address_parses_or_is_one_line: `--distribute $'\\n'` printed a
    message broken over two lines (every message quoting input is now made printable)."""
    got = outcome(lambda: hosts.parse("\n"))
    assert got == (
        "'\\n' is not a helper address: write helpers as HOST[:PORT][/JOBS], "
        "e.g. 192.168.1.20 or 10.0.0.5:3632/8"
    )
