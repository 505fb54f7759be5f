"""Root filesystem tarballs (images.tarball.extract) and the metadata of exported envs in them
(pack.META_MEMBER, read by `create --from`): a stranger's archive, extracted as root.

Every example builds a real archive (tests/fuzz/tar_archives.py: GNU, pax or ustar headers
written member by member, so sizes can lie and the end can be missing; gzip, bzip2, xz or
zstd on top) and extracts it into ``TOP/a/b/c/target``, four levels below a directory holding a
:class:`Witness`, so that ``..`` and symlinks in the archive (to the witness's absolute path,
to ``/`` followed by TOP's path, to ``../../../..``) reach something that is watched.

No part of a member name is a name the host has at ``/``: an escape would go to TOP or to a
new name at ``/``, which the tests also watch, not into the host's /usr.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import libarchive
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from armroot.commands import create
from armroot.images import tarball
from armroot.images.pack import META_MEMBER
from armroot.store.envs import EnvMeta
from tests.fuzz.properties import Witness, outcome, snapshot
from tests.fuzz.tar_archives import FORMATS, Archive, Format, Member, tar
from tests.fuzz.test_fuzz_export_meta import METADATA, validates

TARGET = ("a", "b", "c", "target")  # below TOP: four '..' from the target's top reach TOP
HOST_TOP = frozenset(os.listdir("/"))
# tmpfs when there is one: thousands of examples each make and remove a few directories,
# which on a busy disk's journal costs milliseconds apiece
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None

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
            validates(meta)
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
