"""Errors armroot raises: each carries a message, a hint saying what to do, and an exit code.

Library code raises these; only the CLI turns them into output and an exit status.
"""

from __future__ import annotations

# Bidirectional overrides and isolates: text after them can display in another order.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str, keep: str = "") -> str:
    """``text`` safe to print as part of one line: control characters (a newline that would
    start a fake ``armroot: error:`` line, a terminal escape), line separators and bidi
    controls are written as escapes; an undecodable byte of a file name (a lone surrogate from
    ``os.fsdecode``) as ``\\xNN``, which a UTF-8 terminal could not even be sent otherwise.
    ``keep`` names characters left as they are. The one rule for every message armroot
    prints that can hold text from outside (member names, indexes, command output)."""
    if text.isprintable() and not _BIDI.intersection(text):
        return text
    import unicodedata  # (not at import: every `armroot run` loads this module)

    out = []
    for ch in text:
        if ch in keep:
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


# No space left on device, disk quota exceeded, read-only file system: the machine's state
# where armroot writes (store, cache, temporary directory), not a bug nor the input's fault.
DISK_FULL = frozenset((28, 122, 30))


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write refused for want of room (or of a writable disk)."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


class ArmrootError(Exception):
    """Base of every error armroot reports to a person."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The error as the single line the CLI prints."""
        line = f"{self.message}: {self.hint}" if self.hint else self.message
        return printable(line)


class UsageError(ArmrootError):
    """The command line or an argument is wrong."""

    exit_code = 2


class EnvNotFound(ArmrootError):
    """No environment of that name."""

    exit_code = 3


class EnvExists(ArmrootError):
    """An environment of that name already exists."""

    exit_code = 4


class EnvBusy(ArmrootError):
    """The environment is in use (a session or a package change holds its lock)."""

    exit_code = 5


class HostError(ArmrootError):
    """The host lacks something armroot needs (qemu, binfmt_misc, mmdebstrap, privileges)."""

    exit_code = 6


class SourceError(ArmrootError):
    """A root filesystem source is unusable: bad archive, unsafe member, wrong architecture."""

    exit_code = 7


class ExternalCommandError(ArmrootError):
    """An external program armroot ran failed."""

    exit_code = 8


class SandboxError(ArmrootError):
    """Setting up the session's namespaces or mounts failed."""

    exit_code = 9
