"""Every message that can quote text from outside is printed as one safe line
(armroot.errors.printable: ArmrootError.one_line and every log function)."""

from __future__ import annotations

import pytest

from armroot import log
from armroot.errors import SourceError, printable


def test_controls_separators_and_bidi_are_escaped_and_text_is_kept() -> None:
    assert printable("lib/x\nroot: ok") == "lib/x\\nroot: ok"
    assert printable("\x1b[2Jgone\r") == "\\x1b[2Jgone\\r"
    assert printable("a\u2028b\u202ec") == "a\\u2028b\\u202ec"
    assert printable("é 中 ß\u00a0x") == "é 中 ß\u00a0x"  # letters and spaces are text
    assert printable("tab\there", keep="\t") == "tab\there"


def test_an_undecodable_byte_of_a_name_is_shown_as_its_byte() -> None:
    name = b"usr/\xff\xfe".decode("utf-8", "surrogateescape")
    assert printable(name) == "usr/\\xff\\xfe"
    printable(name).encode("utf-8")  # a UTF-8 terminal can be sent it


def test_an_error_quoting_a_member_name_is_one_line() -> None:
    exc = SourceError("member 'a\nb' is unsafe", "use another tarball")
    assert exc.one_line() == "member 'a\\nb' is unsafe: use another tarball"


def test_warnings_and_errors_cannot_start_another_line(capsys: pytest.CaptureFixture[str]) -> None:
    log._consoles.clear()  # a console on this test's captured stderr
    try:
        log.warn("skipped x\narmroot: error: fake")
        log.error("bad \x1b]0;title\x07 name")
    finally:
        log._consoles.clear()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "warning: skipped x\\narmroot: error: fake",
        "armroot: error: bad \\x1b]0;title\\x07 name",
    ]


def test_a_full_disk_is_one_line_and_other_os_errors_are_not_hidden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import errno
    import signal

    from armroot.cli import launch

    def full() -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "/var/cache/x")

    def other() -> int:
        raise OSError(errno.EIO, "Input/output error", "/dev/x")

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    log._consoles.clear()
    try:
        assert launch.guarded(full) == 6
        with pytest.raises(OSError):
            launch.guarded(other)  # a bug, not the machine: its traceback stays
    finally:
        log._consoles.clear()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)  # guarded set the CLI's
    assert capsys.readouterr().err.splitlines() == [
        "armroot: error: No space left on device: /var/cache/x: free space there, "
        "or point armroot elsewhere"
    ]
