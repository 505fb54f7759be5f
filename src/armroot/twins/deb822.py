"""Debian's control-file format (deb822): dpkg's status file, an archive's Packages index, a
Release file. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

_SOURCE = re.compile(r"^(?P<name>[^\s(]+)(?:\s*\((?P<version>[^)]+)\))?$")


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """Each paragraph as field -> value (continuation lines joined with newlines). Lines
    end at a newline only, and only spaces and tabs make a line blank (as for apt and dpkg):
    a value's other line or paragraph separators (U+2028, form feed...) are text in it."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if not line.strip(" \t"):
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            fields[last] = value.strip()
    if fields:
        yield fields


class Package(NamedTuple):
    """One binary package: installed in a root (dpkg status) or offered by an archive."""

    name: str
    version: str
    arch: str
    source: str
    source_version: str
    depends: tuple[str, ...] = ()  # the first alternative of each Pre-Depends and Depends
    built_using: tuple[tuple[str, str], ...] = ()  # (source, version)
    filename: str = ""  # in the archive's pool
    sha256: str = ""
    size: int = 0


def _source(fields: dict[str, str]) -> tuple[str, str]:
    """The source package and its version (a binNMU's +bN is the binary's, not the source's)."""
    match = _SOURCE.match(fields.get("Source", "").strip())
    if match is None:
        return fields["Package"], fields["Version"]
    return match["name"], match["version"] or fields["Version"]


def _relations(text: str) -> tuple[str, ...]:
    names = []
    for item in text.split(","):
        first = item.split("|")[0].strip()
        if first:
            names.append(first.split()[0].split(":")[0])
    return tuple(names)


def _built_using(text: str) -> tuple[tuple[str, str], ...]:
    found = []
    for item in text.split(","):
        match = re.match(r"^\s*([^\s(]+)\s*\(\s*=\s*([^)\s]+)\s*\)\s*$", item)
        if match:
            found.append((match[1], match[2]))
    return tuple(found)


def package(fields: dict[str, str]) -> Package:
    source, source_version = _source(fields)
    depends = _relations(fields.get("Pre-Depends", "")) + _relations(fields.get("Depends", ""))
    return Package(
        name=fields["Package"],
        version=fields["Version"],
        arch=fields.get("Architecture", ""),
        source=source,
        source_version=source_version,
        depends=depends,
        built_using=_built_using(fields.get("Built-Using", "")),
        filename=fields.get("Filename", ""),
        sha256=_sha256(fields.get("SHA256", "")),  # a folder's name in the cache: never a path
        size=_size(fields.get("Size", "")) or 0,
    )


def _sha256(text: str) -> str:
    """``text`` as a sha256 (64 hex digits, lower case), or "" if it is not one."""
    value = text.strip().lower()
    return value if re.fullmatch(r"[0-9a-f]{64}", value) else ""


def _size(text: str) -> int | None:
    value = text.strip()
    return int(value) if re.fullmatch(r"[0-9]{1,19}", value) else None


def installed(status: str) -> dict[str, Package]:
    """The packages dpkg's status file says are installed, by name."""
    found: dict[str, Package] = {}
    for fields in paragraphs(status):
        if fields.get("Status", "").split()[-1:] != ["installed"]:
            continue
        if "Package" in fields and "Version" in fields:
            found[fields["Package"]] = package(fields)
    return found


def index(packages: str) -> dict[str, list[Package]]:
    """An archive's Packages index, by package name (every version it offers)."""
    found: dict[str, list[Package]] = {}
    for fields in paragraphs(packages):
        if "Package" in fields and "Version" in fields:
            found.setdefault(fields["Package"], []).append(package(fields))
    return found


def release_sha256(release: str) -> dict[str, tuple[str, int]]:
    """A Release file's SHA256 list: path -> (sha256, size)."""
    for fields in paragraphs(release):
        if "SHA256" in fields:
            found = {}
            for line in fields["SHA256"].split("\n"):
                parts = line.split()
                if len(parts) != 3 or not (digest := _sha256(parts[0])):
                    continue  # names a cache file and a by-hash URL: 64 hex digits only
                if (size := _size(parts[1])) is not None:
                    found[parts[2]] = (digest, size)
            return found
    return {}
