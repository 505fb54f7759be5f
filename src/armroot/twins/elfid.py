"""What identifies a program for its twin: its ELF machine and GNU build-id, read as the
binfmt handler (accel/twin.c) reads them. Pure over the file's bytes."""

from __future__ import annotations

import struct
from typing import NamedTuple

PT_INTERP = 3
PT_NOTE = 4
NT_GNU_BUILD_ID = 3
ET_EXEC = 2
NOTE_MAX = 4096  # what twin.c reads of a note segment


class Program(NamedTuple):
    machine: int  # e_machine: 40 ARM, 183 AArch64, 62 x86-64
    build_id: str  # hex; "" if the file has none
    dynamic: bool  # has a PT_INTERP (starts through a loader)


def identify(head: bytes) -> Program | None:
    """The program described by the ELF file whose first bytes are ``head`` (its program
    headers and notes must lie within ``head``: :func:`read` gives enough); None for what
    is not a little-endian ELF executable (a shared library, an object, a script)."""
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[5] != 1:
        return None
    is64 = head[4] == 2
    e_type, machine = struct.unpack_from("<HH", head, 16)
    if is64:
        (phoff,) = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
    else:
        (phoff,) = struct.unpack_from("<I", head, 28)
        phentsize, phnum = struct.unpack_from("<HH", head, 42)
    if phnum > 64 or phentsize < (56 if is64 else 32):
        return None
    build_id, dynamic = "", False
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + phentsize > len(head):
            return None
        if is64:
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", head, at)
        else:
            p_type, p_offset, _, _, p_filesz = struct.unpack_from("<IIIII", head, at)
        if p_type == PT_INTERP:
            dynamic = True
        elif p_type == PT_NOTE and not build_id:
            build_id = _build_id(head[p_offset : p_offset + min(p_filesz, NOTE_MAX)])
    if e_type != ET_EXEC and not dynamic:
        return None  # a shared library or a static-pie the kernel would not run as a program
    return Program(machine, build_id, dynamic)


def _build_id(notes: bytes) -> str:
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, at)
        name = at + 12
        desc = name + ((namesz + 3) & ~3)
        following = desc + ((descsz + 3) & ~3)
        if following > len(notes):
            return ""
        if kind == NT_GNU_BUILD_ID and notes[name : name + namesz] == b"GNU\0":
            return notes[desc : desc + descsz].hex()
        at = following
    return ""


HEAD = 16384  # program headers and the build-id note sit at the start of every ELF program


def read(path: str) -> Program | None:
    """:func:`identify` for the file at ``path`` (None if it cannot be read)."""
    try:
        with open(path, "rb") as stream:
            return identify(stream.read(HEAD))
    except OSError:
        return None
