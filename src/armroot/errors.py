"""Errors armroot raises: each carries a message, a hint saying what to do, and an exit code.

Library code raises these; only the CLI turns them into output and an exit status.
"""

from __future__ import annotations


class ArmrootError(Exception):
    """Base of every error armroot reports to a person."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The error as the single line the CLI prints."""
        return f"{self.message}: {self.hint}" if self.hint else self.message


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
