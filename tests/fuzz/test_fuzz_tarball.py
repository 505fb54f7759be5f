"""Root filesystem tarballs (images.tarball.extract) and the metadata of exported envs in them
(pack.META_MEMBER, read by `create --from`): a stranger's archive, extracted as root.

Every example builds a real archive (GNU, pax or ustar headers from :mod:`tarfile`, written
member by member so sizes can lie and the end can be missing; gzip, bzip2, xz or zstd on top)
and extracts it into ``TOP/a/b/c/target``, four levels below a directory holding a
:class:`Witness`, so that ``..`` and symlinks in the archive (to the witness's absolute path,
to ``/`` followed by TOP's path, to ``../../../..``) reach something that is watched.

No part of a member name is a name the host has at ``/``: an escape would go to TOP or to a
new name at ``/``, which the tests also watch, not into the host's /usr.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple

import libarchive
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from armroot.commands import create
from armroot.images import tarball
from armroot.images.pack import META_MEMBER
from armroot.rootfs import boards
from armroot.store.envs import EnvMeta
from tests.fuzz.properties import Witness, outcome, snapshot

TARGET = ("a", "b", "c", "target")  # below TOP: four '..' from the target's top reach TOP
HOST_TOP = frozenset(os.listdir("/"))
# tmpfs when there is one: thousands of examples each make and remove a few directories,
# which on a busy disk's journal costs milliseconds apiece
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None

# --- archives -----------------------------------------------------------------------------

Format = Literal[0, 1, 2]  # tarfile.USTAR_FORMAT, GNU_FORMAT, PAX_FORMAT
FORMATS: tuple[Format, ...] = (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT)
TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
}
# Device numbers nothing on this machine answers to, or /dev/null, /dev/zero, /dev/full:
# harmless even if something did open the node.
DEVICES = {"chr": [(1, 3), (1, 5), (1, 7)], "blk": [(0, 0), (0, 7)]}
NUL = b"\0"


class Member(NamedTuple):
    kind: str  # a key of TYPES
    name: str  # "@TOP" is TOP's absolute path, "@T" the same without the leading "/"
    link: str = ""
    data: bytes = b""
    mode: int = 0o644
    owner: int = 0
    size: int | None = None  # the size the header declares, when not len(data)
    pax: tuple[tuple[str, str], ...] = ()  # extra pax keywords (pax format only)
    sparse: tuple[tuple[int, int], ...] | None = None  # (offset, length) chunks of a file
    realsize: int = 0  # a sparse file's size


class Archive(NamedTuple):
    members: tuple[Member, ...]
    fmt: Format = tarfile.GNU_FORMAT
    compression: str = "none"
    end: bool = True  # the two zero blocks that end a tar archive
    cut: int | None = None  # keep only this many bytes of the (compressed) archive

    def build(self, top: Path) -> bytes:
        raw = bytearray()
        for member in self.members:
            raw += _member_bytes(member, self.fmt, top)
        if self.end:
            raw += NUL * 1024
        data = _compress(bytes(raw), self.compression)
        return data if self.cut is None else data[: self.cut]


def fill(text: str, top: Path) -> str:
    return text.replace("@TOP", str(top)).replace("@T", str(top).lstrip("/"))


def _number(value: int, digits: int) -> bytes:
    """A tar header number field: octal, or GNU's base-256 when it does not fit."""
    if 0 <= value < 1 << 3 * (digits - 1):
        return b"%0*o" % (digits - 1, value) + NUL
    return bytes([0x80]) + (value % (1 << 8 * (digits - 1))).to_bytes(digits - 1, "big")


def _gnu_sparse(header: bytes, chunks: Sequence[tuple[int, int]], realsize: int) -> bytes:
    """``header`` (a GNU 'S' member) with its sparse map and real size filled in."""
    block = bytearray(header[-512:])
    for i, (offset, length) in enumerate(chunks[:4]):
        block[386 + 24 * i : 398 + 24 * i] = _number(offset, 12)
        block[398 + 24 * i : 410 + 24 * i] = _number(length, 12)
    block[483:495] = _number(realsize, 12)
    block[148:156] = b" " * 8
    block[148:155] = b"%06o" % sum(block) + NUL
    return header[:-512] + bytes(block)


def _member_bytes(member: Member, fmt: Format, top: Path) -> bytes:
    info = tarfile.TarInfo(fill(member.name, top))
    info.type = TYPES[member.kind]
    if member.kind in ("symlink", "hardlink"):
        info.linkname = fill(member.link, top)
    info.mode, info.uid, info.gid, info.mtime = member.mode, member.owner, member.owner, 1
    if member.kind in DEVICES:
        info.devmajor, info.devminor = DEVICES[member.kind][member.owner % 2]
    data = member.data if member.kind in ("file", "hardlink") else b""
    pax = {key: fill(value, top) for key, value in member.pax}
    if member.kind == "hardlink" and data:  # only a pax member (one with an 'x' header) can
        if fmt == tarfile.PAX_FORMAT:  # give a hard link data: others' size is ignored
            pax.setdefault("comment", "a hard link with data")
        else:
            data = b""
    sparse = member.sparse if member.kind == "file" and fmt != tarfile.USTAR_FORMAT else None
    if sparse is not None:
        stored = sum(length for _, length in sparse)
        data = b"\1" * min(stored, 8192)  # a declared length beyond that: a truncated member
        if fmt == tarfile.GNU_FORMAT:
            info.type = tarfile.GNUTYPE_SPARSE
            info.size = stored
        else:  # pax 1.0: the map in front of the data
            pax.update(
                {
                    "GNU.sparse.major": "1",
                    "GNU.sparse.minor": "0",
                    "GNU.sparse.name": info.name,
                    "GNU.sparse.realsize": str(member.realsize),
                }
            )
            info.name = "GNUSparseFile.0/s"
            lines = [str(len(sparse))] + [f"{o}\n{n}" for o, n in sparse]
            head = ("\n".join(lines) + "\n").encode()
            head += NUL * (-len(head) % 512)
            data = head + data
            info.size = len(head) + stored
    else:
        info.size = len(data)
    if member.size is not None:
        info.size = member.size
    info.pax_headers = pax
    try:
        header = info.tobuf(fmt, "utf-8", "surrogateescape")
    except ValueError:
        return b""  # this format cannot hold it (ustar: a long name, a big number)
    if sparse is not None and fmt == tarfile.GNU_FORMAT:
        header = _gnu_sparse(header, sparse, member.realsize)
    return header + data + NUL * (-len(data) % 512)


def _compress(raw: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(raw, compresslevel=1, mtime=0)
    if how == "bzip2":
        return bz2.compress(raw, 1)
    if how == "xz":
        return lzma.compress(raw, preset=0)
    if how == "zstd":
        out = bytearray()

        def take(chunk: bytes) -> int:
            out.extend(chunk)
            return len(chunk)

        with libarchive.custom_writer(take, "raw", filter_name="zstd") as writer:
            writer.add_file_from_memory("data", len(raw), raw)
        return bytes(out)
    return raw


def tar(*members: Member, fmt: Format = tarfile.GNU_FORMAT) -> Archive:
    return Archive(tuple(members), fmt)


# --- extraction in a box --------------------------------------------------------------------


def _outside(top: Path) -> object:
    """Everything the extraction must leave alone: TOP (but the target), and the host's /."""
    inside = os.path.join(*TARGET)
    tree = {
        path: state
        for path, state in snapshot(top).items()
        if path != inside and not path.startswith(inside + os.sep)
    }
    st_top = os.lstat(top)
    return tree, (st_top.st_mode, st_top.st_uid, st_top.st_mtime_ns), sorted(os.listdir("/"))


def _written(path: Path) -> list[str]:
    """The names of the members libarchive writes, as it reads them (pax and sparse headers
    can rename): all but hard links to themselves, which it skips."""
    names = []
    with libarchive.file_reader(str(path)) as reader:
        for entry in reader:
            name = tarball.normalize(os.fsdecode(entry.pathname))
            if not (entry.islnk and tarball.normalize(os.fsdecode(entry.linkpath)) == name):
                names.append(name)
    return names


def _nothing_written_through_a_symlink(
    path: Path, target: Path, report: tarball.ExtractReport
) -> None:
    """Each member that was written is below the target, and no directory on its way there is
    a symlink (it would have been written through it: once a member exists, what is above it
    cannot become a symlink, since a directory that is not empty cannot be replaced)."""
    skipped = set(report.skipped_devices) | ({META_MEMBER} if report.meta is not None else set())
    top = os.path.realpath(target)
    for name in _written(path):
        if name in skipped:
            continue
        assert os.path.normpath(os.path.join(top, name)).startswith(top), name
        parts = PurePosixPath(name).parts
        for i in range(1, len(parts)):
            on_the_way = target.joinpath(*parts[:i])
            assert not on_the_way.is_symlink(), f"{name!r} was written through {on_the_way}"
    for dirpath, dirnames, filenames in os.walk(target):
        for entry in dirnames + filenames:
            where = os.path.realpath(os.path.dirname(os.path.join(dirpath, entry)))
            assert where == top or where.startswith(top + os.sep), (dirpath, entry)


def _kind(got: tarball.ExtractReport | str, path: Path) -> str:
    """What became of an example, for --hypothesis-show-statistics."""
    if isinstance(got, tarball.ExtractReport):
        return "extracted"
    words = got.replace(str(path), "ARCHIVE").replace(str(path.parent), "TOP")
    return words.split("(")[-1][:40] if "damaged" in words else words[:40]


def extract_in_a_box(
    archive: Archive, devices: bool = False
) -> tuple[tarball.ExtractReport | str, set[str]]:
    """Extract ``archive`` and check the properties; its report (or the one error line) and
    the names at the top of the root."""
    with tempfile.TemporaryDirectory(prefix="armroot-fuzz-", dir=SCRATCH) as scratch:
        top = Path(scratch)
        witness = Witness(top / "witness")
        target = top.joinpath(*TARGET)
        target.mkdir(parents=True)
        path = top / "archive"
        path.write_bytes(archive.build(top))
        before = _outside(top)
        got = outcome(lambda: tarball.extract(path, target, devices=devices))
        if currently_in_test_context():
            event(_kind(got, path))
        if isinstance(got, str):  # libarchive's reason, as text
            assert "(None)" not in got and "(b'" not in got and '(b"' not in got, got
        assert witness.unchanged(), "the witness beside the target changed"
        assert _outside(top) == before, "something outside the target changed"
        if isinstance(got, tarball.ExtractReport):
            assert got.entries > 0
            assert not any(w.startswith(("b'", 'b"', "None")) for w in got.warnings), got
            _nothing_written_through_a_symlink(path, target, got)
        return got, set(os.listdir(target))


# --- strategies -----------------------------------------------------------------------------

_PARTS = [
    "x",
    "y",
    "l",
    "l2",
    "sub",
    "..",
    ".",
    "",
    "a" * 101,
    "b" * 255,
    "c" * 256,
    "\udcff\udcfe",
    "caf\udce9",
    "é",
    " ",
    "-",
    "\n",
    "\x1b[31m",
    "@T",
    META_MEMBER,
]
assert not HOST_TOP.intersection(_PARTS), "a name the host has at / (see the module's doc)"
_PART = st.sampled_from(_PARTS)
# Most members are ordinary (so that archives get extracted, and the members that follow a
# symlink or a hostile member are reached); any one can be anything.
_PLAIN = [p for p in _PARTS if p not in ("..", ".", "", "c" * 256, "@T")]
_PLAIN_NAME = st.builds(
    lambda lead, parts, tail: lead + "/".join(parts) + tail,
    st.sampled_from(["", "", "./"]),
    st.lists(st.sampled_from(_PLAIN), min_size=1, max_size=3),
    st.sampled_from(["", "", "/"]),
)
_HOSTILE_NAME = st.one_of(
    st.builds(
        lambda lead, parts, tail: lead + "/".join(parts) + tail,
        st.sampled_from(["", "", "./", "/", "//", "././"]),
        st.lists(_PART, min_size=1, max_size=4),
        st.sampled_from(["", "", "/", "/."]),
    ),
    st.sampled_from(
        [
            "",
            ".",
            "./",
            "/",
            "@TOP/witness/precious",
            "../../../../witness/precious",
            "l/@T/witness/precious",
            "l/witness/precious",
            "l/precious",
            "l/dir/x",
            "x" * 5000,
        ]
    ),
    st.text(max_size=12).filter(lambda s: not HOST_TOP.intersection(s.split("/"))),
)
_NAME = st.one_of(_PLAIN_NAME, _PLAIN_NAME, _PLAIN_NAME, _HOSTILE_NAME)
_LINK = st.one_of(
    st.sampled_from(
        [
            "/",
            "@TOP",
            "@TOP/witness",
            "@TOP/witness/precious",
            "@TOP/witness/dir",
            "..",
            "../..",
            "../../../..",
            "../../../../witness",
            "../../../../witness/precious",
            ".",
            "",
            "x",
            "l",
            "l2",
            "l/precious",
            "missing",
            "\udcff",
        ]
    ),
    _NAME,
)
_KIND = st.sampled_from(["file", "file", "dir", "symlink", "symlink", "hardlink", "fifo"])
_MODE = st.sampled_from([0o644, 0o755, 0o4755, 0o2755, 0o6755, 0o1777, 0o7777, 0o000, 0o200])
_OWNER = st.sampled_from([0, 0, 1000, 65534, 2**21, 2**32 - 2])
_SIZE = st.one_of(st.none(), st.none(), st.none(), st.sampled_from([0, 1, 513, 2**33, 2**62]))
_PAX_KEY = st.sampled_from(
    [
        "path",
        "linkpath",
        "size",
        "uid",
        "mtime",
        "uname",
        "hdrcharset",
        "GNU.sparse.name",
        "SCHILY.xattr.user.armroot",
        "SCHILY.xattr.security.capability",
        "SCHILY.xattr.trusted.armroot",
        "SCHILY.acl.access",
        "SCHILY.devmajor",
    ]
)
_PAX_VALUE = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "18446744073709551616",
        "../../x",
        "/abs",
        "@TOP/witness/precious",
        "l/@T/witness/precious",
        "\udcff",
        "BINARY",
        "user::rwx,group::r-x,other::r-x",
        "u:1000:rwx",
        "x" * 300,
    ]
)
_OFFSET = st.sampled_from([0, 1, 511, 512, 4096, 2**20, 2**33, 2**62])
_SPARSE = st.one_of(
    st.none(), st.none(), st.none(), st.lists(st.tuples(_OFFSET, _OFFSET), max_size=5).map(tuple)
)
_PAX = st.one_of(
    st.just(()),
    st.just(()),
    st.just(()),
    st.lists(st.tuples(_PAX_KEY, _PAX_VALUE), max_size=2).map(tuple),
)


def members(kind: st.SearchStrategy[str] = _KIND) -> st.SearchStrategy[Member]:
    return st.builds(
        Member,
        kind=kind,
        name=_NAME,
        link=_LINK,
        data=st.binary(max_size=40),
        mode=_MODE,
        owner=_OWNER,
        size=_SIZE,
        pax=_PAX,
        sparse=_SPARSE,
        realsize=_OFFSET,
    )


def archives(member: st.SearchStrategy[Member]) -> st.SearchStrategy[Archive]:
    return st.builds(
        Archive,
        members=st.lists(member, min_size=1, max_size=8).map(tuple),
        fmt=st.sampled_from(FORMATS),
        compression=st.sampled_from(["none", "none", "none", "gzip", "bzip2", "xz", "zstd"]),
        end=st.booleans(),
        cut=st.one_of(st.none(), st.none(), st.none(), st.none(), st.integers(0, 4096)),
    )


# Escapes spelled out: symlinks (and hard links to them) to the witness, to / or to TOP,
# then members written through them, with every spelling of the path there.
_HOP = st.sampled_from(
    [
        "@TOP/witness",
        "@TOP/witness/dir",
        "@TOP/witness/precious",
        "/",
        "@TOP",
        "../../../../witness",
        "../../../..",
        "..",
        ".",
        "l",
        "l2",
        "l3",
        "missing",
    ]
)
_TAIL = st.sampled_from(
    [
        "precious",
        "dir",
        "dir/new",
        "new",
        "witness/precious",
        "witness/dir/new",
        "@T/witness/precious",
        "@T/witness/dir/new",
        "",
    ]
)


@st.composite
def escapes(draw: st.DrawFn) -> Archive:
    links = draw(st.lists(st.sampled_from(["l", "l2", "l3"]), min_size=1, max_size=3))
    found: list[Member] = []
    for link in links:
        if len(found) > 0 and draw(st.booleans()):  # a hard link to an earlier symlink
            found.append(Member("hardlink", link, draw(st.sampled_from(links))))
        else:
            found.append(Member("symlink", link, draw(_HOP)))
    for _ in range(draw(st.integers(1, 4))):
        via = draw(st.sampled_from(links))
        lead = draw(st.sampled_from(["", "./"]))
        sep = draw(st.sampled_from(["/", "//", "/./"]))
        tail = draw(_TAIL)
        kind = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink", "fifo"]))
        data = draw(st.sampled_from([b"", b"evil\n"]))
        if kind == "hardlink" and draw(st.booleans()):  # to it, or to a path through it
            to = draw(st.sampled_from([via, via + sep + tail]))
            found.append(Member(kind, draw(st.sampled_from(["h", "x"])), to, data))
        elif draw(st.integers(0, 5)) == 0:  # the link itself replaced
            found.append(Member(kind, lead + via, "@TOP/witness/precious", data, 0o4755))
        else:
            found.append(Member(kind, lead + via + sep + tail, "@TOP/witness/precious", data))
    return Archive(tuple(found), draw(st.sampled_from(FORMATS)))


# --- the tests: archives --------------------------------------------------------------------


@given(archives(members()))
def test_a_rootfs_tarball_stays_in_its_target_or_is_one_line(archive: Archive) -> None:
    extract_in_a_box(archive, devices=False)


@given(escapes())
def test_writes_through_symlinks_to_the_witness_are_refused(archive: Archive) -> None:
    extract_in_a_box(archive, devices=False)


@pytest.mark.root
@given(archives(members(st.sampled_from(["file", "dir", "symlink", "hardlink", "chr", "blk"]))))
def test_device_nodes_and_owners_stay_in_the_target(archive: Archive) -> None:
    extract_in_a_box(archive, devices=True)


# --- the tests: an exported env's metadata ------------------------------------------------


def _nested(kids: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3)


_JSON: st.SearchStrategy[object] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    _nested,
    max_leaves=8,
)
_OPTIONAL = st.none() | st.text(max_size=8)
_META = st.builds(
    EnvMeta,
    name=st.text(max_size=8),
    arch=st.sampled_from(["arm64", "armhf", "x"]),
    source=st.text(max_size=12),
    created=st.text(max_size=8),
    cpu_level=_OPTIONAL,
    qemu_cpu=_OPTIONAL,
    size_bytes=st.integers(0, 2**40),
    board=st.none() | st.sampled_from([*boards.ALL_NAMES, "nope"]),
    gcc_target=st.none() | st.dictionaries(st.text(max_size=5), _JSON, max_size=3),
)
_FIELDS = st.sampled_from([*EnvMeta._fields, "extra"])
_HUGE = st.sampled_from([tarball.META_LIMIT - 1, tarball.META_LIMIT, tarball.META_LIMIT + 1])
METADATA = st.one_of(
    _META.map(lambda m: m.to_json().encode()),
    st.builds(
        lambda meta, changes: json.dumps({**meta._asdict(), **changes}).encode(),
        _META,
        st.dictionaries(_FIELDS, _JSON, max_size=3),
    ),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"[" * 100_000,
            b'{"a":' * 50_000,
            b"1" * 5000,
            b'{"name": "\xff"}',
            b'{"name": "\\ud800"}',
            b"\xef\xbb\xbf{}",
            b"{} {}",
        ]
    ),
    st.builds(lambda meta, size: meta.to_json().encode().ljust(size), _META, _HUGE),
)
_TYPES: dict[str, tuple[type, ...]] = {
    "size_bytes": (int,),
    "gcc_target": (dict, type(None)),
    **{f: (str,) for f in ("name", "arch", "source", "created", "armroot_version")},
    **{
        f: (str, type(None))
        for f in ("cpu_level", "qemu_cpu", "uname_machine", "os_name", "board", "source_sha256")
    },
}


def _validates(meta: EnvMeta) -> None:
    for field, kinds in _TYPES.items():
        value = getattr(meta, field)
        assert isinstance(value, kinds) and not isinstance(value, bool), (field, value)
    assert EnvMeta.from_json(meta.to_json()) == meta


@given(METADATA)
def test_exported_metadata_validates_or_is_one_line(raw: bytes) -> None:
    got = outcome(lambda: create.exported_meta(raw, "env.tar"))
    if isinstance(got, EnvMeta):
        _validates(got)


_META_NAME = st.sampled_from(
    [META_MEMBER, "./" + META_MEMBER, META_MEMBER + "/", "x/" + META_MEMBER]
)


@given(
    st.lists(
        st.tuples(st.sampled_from(["file", "file", "dir", "symlink", "hardlink"]), _META_NAME),
        min_size=1,
        max_size=3,
    ),
    METADATA,
    st.sampled_from(FORMATS),
    st.booleans(),
)
def test_exported_metadata_is_read_not_extracted(
    placed: list[tuple[str, str]], raw: bytes, fmt: Format, last: bool
) -> None:
    found = [Member(kind, name, "etc/os-release", raw) for kind, name in placed]
    release = Member("file", "etc/os-release", data=b"ID=debian\n")
    archive = Archive((*found, release) if last else (release, *found), fmt)
    got, landed = extract_in_a_box(archive)
    if not isinstance(got, tarball.ExtractReport):
        return
    at_top = [m for m in found if tarball.normalize(m.name) == META_MEMBER]
    if got.meta is not None:
        assert got.meta in (raw, b""), "metadata that no member held"
        assert META_MEMBER not in landed or len(at_top) > 1, "the metadata read was extracted"
        meta = outcome(lambda: create.exported_meta(got.meta or b"", "env.tar"))
        if isinstance(meta, EnvMeta):
            _validates(meta)
    if len(at_top) == 1 and at_top[0].kind == "file" and not at_top[0].name.endswith("/"):
        small = len(raw) <= tarball.META_LIMIT
        assert got.meta == (raw if small else None)
        assert (META_MEMBER in landed) == (not small)  # a larger one is an ordinary file


# --- regressions ----------------------------------------------------------------------------


def test_regression_non_utf8_member_name() -> None:
    # libarchive-c hands a name that is not UTF-8 over as bytes: normalize() raised TypeError
    got, landed = extract_in_a_box(tar(Member("file", "\udcff\udcfe", data=b"x")))
    assert isinstance(got, tarball.ExtractReport) and landed == {"\udcff\udcfe"}


def test_regression_non_utf8_hard_link_target() -> None:
    # the same for a hard link's target: member_problem() raised TypeError
    got, _ = extract_in_a_box(tar(Member("hardlink", "h", "\udcff")))
    assert isinstance(got, str) and "Hard-link target '\\xff' does not exist" in got


def test_regression_libarchive_reason_not_ascii() -> None:
    # libarchive-c gives a message holding a non-ASCII name as bytes: the line said
    # (b"Can't create '\xc3\xa9/ccc...'")
    got, _ = extract_in_a_box(tar(Member("file", "é/" + "c" * 256)))
    assert isinstance(got, str) and "(Can't create 'é/ccc" in got


def test_regression_libarchive_reason_missing() -> None:
    # a pax header cut off at its first block: libarchive gives no message, the line said (None)
    got, _ = extract_in_a_box(
        Archive((Member("file", "x", sparse=()),), tarfile.PAX_FORMAT, cut=512)
    )
    assert isinstance(got, str) and "(no reason given)" in got


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",  # AttributeError: 'list' object has no attribute 'items'
        b"[" * 100_000,  # RecursionError
        b'{"name": null, "arch": "", "source": "", "created": ""}',  # accepted, name None
        b'{"name": "", "arch": "", "source": "", "created": "", "gcc_target": []}',  # accepted
    ],
)
def test_regression_exported_metadata_of_the_wrong_shape(raw: bytes) -> None:
    got = outcome(lambda: create.exported_meta(raw, "env.tar"))
    assert isinstance(got, str) and got.startswith("env.tar carries unreadable armroot metadata")


@pytest.mark.root
def test_regression_file_flags_in_a_tarball_are_not_applied(tmp_path: Path) -> None:
    """Found reading what the extraction applies (fflags were not fuzzed: an immutable file
    makes the scratch directories unremovable): a pax member with SCHILY.fflags=schg came
    out immutable, so dpkg could never replace it nor `armroot rm` remove the env."""
    import fcntl
    import struct

    archive = tmp_path / "flags.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        member = tarfile.TarInfo("f")
        member.size = 3
        member.pax_headers = {"SCHILY.fflags": "schg,uappnd"}
        tar.addfile(member, io.BytesIO(b"hi\n"))
    target = tmp_path / "target"
    target.mkdir()
    tarball.extract(archive, target)
    fs_ioc_getflags, immutable, append = 0x80086601, 0x10, 0x20
    with open(target / "f", "rb") as stream:
        flags = struct.unpack("l", fcntl.ioctl(stream, fs_ioc_getflags, b"\0" * 8))[0]
    if flags & (immutable | append):  # let the test's directory be removed, then fail
        subprocess.run(["chattr", "-i", "-a", str(target / "f")], check=True)
    assert not flags & (immutable | append), hex(flags)
    (target / "f").unlink()


def test_regression_a_write_through_a_hard_linked_symlink_says_so(tmp_path: Path) -> None:
    """Found by test_writes_through_symlinks_to_the_witness_are_refused: a hard link to a
    symlink, then a file below the link, was refused by libarchive's own check (nothing
    escaped) but reported as a damaged download."""
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "through.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as tar:
        link = tarfile.TarInfo("l")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        tar.addfile(link)
        hard = tarfile.TarInfo("h")
        hard.type, hard.linkname = tarfile.LNKTYPE, "l"
        tar.addfile(hard)
        member = tarfile.TarInfo("h/x")
        member.size = 3
        tar.addfile(member, io.BytesIO(b"hi\n"))
    target = tmp_path / "target"
    target.mkdir()
    got = outcome(lambda: tarball.extract(archive, target))
    # (now refused by armroot's own check first: the hard link is a second symlink name)
    assert isinstance(got, str) and "would be written through the symlink member h" in got, got
    assert list(outside.iterdir()) == []


def test_regression_a_hard_link_to_a_symlink_with_data_changed_the_witness() -> None:
    """Found by the fuzz run (bench/fuzz.py, seed 20261202, case ~2,000 of
    test_writes_through_symlinks_to_the_witness_are_refused): a symlink to a directory
    outside, then a hard link to that symlink carrying data, made libarchive set the mode
    of the directory outside (0755 became 0644). Such a hard link is now refused, and a hard
    link through a symlink member too."""
    outside = "@TOP/witness"
    got, _ = extract_in_a_box(
        tar(
            Member("symlink", "l", outside),
            Member("hardlink", "h", "l", data=b"evil\n", mode=0o644),
            fmt=tarfile.PAX_FORMAT,  # pax hard links carry their data (GNU ones do not)
        )
    )  # extract_in_a_box asserts the witness, TOP and / unchanged
    assert isinstance(got, str) and "is a hard link to the symlink member l with data" in got
    got, _ = extract_in_a_box(
        tar(Member("symlink", "l", outside), Member("hardlink", "h", "l/precious"))
    )
    assert isinstance(got, str) and "is a hard link through the symlink member l" in got
