"""Helper addresses as users write them (``HOST[:PORT][/JOBS]``, comma- or space-separated)
and as distcc reads them (DISTCC_HOSTS). Pure, but for local_jobs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

from armroot.errors import UsageError

DEFAULT_PORT = 3632  # distccd's; its statistics answer on the next port (armroot helper serve)
DEFAULT_JOBS = 2  # a helper's jobs when it does not say
HINT = "write helpers as HOST[:PORT][/JOBS], e.g. 192.168.1.20 or 10.0.0.5:3632/8"
_HOST = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d+))?"
    r"(?:/(?P<jobs>\d+))?"
)


class Host(NamedTuple):
    address: str
    port: int = DEFAULT_PORT
    jobs: int | None = None  # as many compiles at once as the user allows it (HOST/N)

    @property
    def label(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{address}:{self.port}"

    def spec(self, jobs: int) -> str:
        """The host in DISTCC_HOSTS, taking ``jobs`` compiles at once."""
        return f"{self.label}/{jobs}"


def parse(text: str) -> Host:
    """One helper, ``HOST[:PORT][/JOBS]`` (an IPv6 address in brackets)."""
    match = _HOST.fullmatch(text.strip())
    if not match:
        raise UsageError(f"'{text}' is not a helper address", HINT)
    address = match["v6"] or match["name"]
    if match["v6"]:
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise UsageError(f"'{text}': {address} is not an IPv6 address", HINT) from None
    port = int(match["port"]) if match["port"] else DEFAULT_PORT
    if not 0 < port < 65535:  # the statistics take the next port
        raise UsageError(f"'{text}': port {port} is out of range", HINT)
    jobs = int(match["jobs"]) if match["jobs"] else None
    if jobs is not None and not 0 < jobs <= 1024:
        raise UsageError(f"'{text}': {jobs} jobs is out of range (1-1024)", HINT)
    return Host(address, port, jobs)


def parse_many(words: Iterable[str]) -> tuple[Host, ...]:
    """Helpers from --distribute and armroot.toml words, each comma- or space-separated."""
    found: list[Host] = []
    for word in words:
        for part in re.split(r"[,\s]+", word):
            if part:
                host = parse(part)
                same = [h for h in found if h.label == host.label]
                if not same:
                    found.append(host)
                elif host.jobs is not None:  # the same helper again: its jobs, said once
                    found[found.index(same[0])] = host
    return tuple(found)


def from_distcc_hosts(value: str) -> tuple[tuple[Host, ...], tuple[str, ...]]:
    """The plain TCP helpers of a DISTCC_HOSTS value, and the words left out: distcc's own
    syntax (ssh hosts, options, ``localhost``, ``,lzo``) names nothing armroot can check."""
    found: list[Host] = []
    skipped: list[str] = []
    for word in value.split():
        if word.startswith(("-", "@")) or "@" in word or "," in word or word == "localhost":
            skipped.append(word)
            continue
        try:
            found += parse_many([word])
        except UsageError:
            skipped.append(word)
    return tuple(found), tuple(skipped)


def local_jobs() -> int:
    """The compiles this machine takes at once: the CPUs armroot may run on."""
    import os

    return len(os.sched_getaffinity(0))


def distcc_hosts(helpers: Iterable[tuple[Host, int]], local: int) -> tuple[str, ...]:
    """DISTCC_HOSTS: each helper with its jobs, then this machine's own cores."""
    return (*(host.spec(jobs) for host, jobs in helpers), f"localhost/{max(local, 1)}")
