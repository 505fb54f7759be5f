"""What an environment (or snapshot) may be called. Light (see :mod:`armroot.session`)."""

from __future__ import annotations

from armroot.errors import UsageError

MAX_LENGTH = 63
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def is_valid(name: str) -> bool:
    """Letters, digits, '.', '_' and '-', at most 63, starting with a letter or digit."""
    return (
        0 < len(name) <= MAX_LENGTH
        and name[0] in _ALLOWED
        and name[0] not in "._-"
        and all(c in _ALLOWED for c in name)
    )


def check_name(name: str) -> str:
    if not is_valid(name):
        raise UsageError(
            f"invalid environment name {name!r}",
            "use letters, digits, '.', '_' or '-' (up to 63, starting with a letter or digit)",
        )
    return name
