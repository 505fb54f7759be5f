"""What armroot reads from a disk image's root once it is copied out (images.diskimage):
/etc/fstab says where the boot partition's files go (boot_dir), and boot_target gives the
directory they are copied into. The root is untrusted: whatever it holds at /etc, /etc/fstab
and /boot (files, FIFOs, device nodes, symlinks to the host, up and out, loops) must not lead
the copy (or a read) out of the root.

The partition tables are tested in test_fuzz_partitions, the .zip and .xz containers in
test_fuzz_image_files.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from armroot.images import diskimage
from armroot.rootfs.paths import is_within, resolve_in_root
from tests.fuzz.images import bounded
from tests.fuzz.properties import Witness

# --- the root's /etc/fstab -------------------------------------------------------------------

_FSTAB_WORDS = st.sampled_from(
    [
        "PARTUUID=4e639091-01",
        "/dev/mmcblk0p1",
        "proc",
        "/",
        "/boot",
        "/boot/firmware",
        "/boot/",
        "/boot/firmware/",
        "/BOOT",
        "vfat",
        "VFAT",
        "ext4",
        "auto",
        "defaults",
        "defaults,noatime",
        "ro,nofail",
        "0",
        "2",
        "#",
        "#PARTUUID=x",
        "\\040",
    ]
)
# Separators: fstab(5)'s (spaces, tabs, a newline ending the line) and what is whitespace or a
# line break only to Python (str.split, str.splitlines), which must not split fields or lines.
_BLANKS = [" ", "  ", "\t", " \t"]
_NOT_SEPARATORS = ["\r", "\v", "\f", "\x1c", "\x1e", "\x85", "\xa0", "\u2028", "\u3000", "\0"]
_FSTAB_SEPARATORS = st.sampled_from(_BLANKS + _NOT_SEPARATORS)
_LINE_ENDS = st.sampled_from(["\n", "\n", "\r\n", *_NOT_SEPARATORS])
FSTAB_LINE = st.lists(st.tuples(_FSTAB_WORDS, _FSTAB_SEPARATORS), max_size=7).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
# An entry: [#] fsname dir [type [options [dump [pass]]]], each field followed by a separator
_FIELDS = [
    ["PARTUUID=4e639091-01", "/dev/sda1", "#x", "x"],
    ["/boot", "/boot/firmware", "/", "/boot/", "/mnt"],
    ["vfat", "vfat", "ext4", "VFAT", "vfat,ro"],
    ["defaults", "defaults,noatime", "ro,nofail"],
    ["0", "1", "x"],
    ["0", "2", "x"],
]
FSTAB_ENTRY = st.tuples(
    st.sampled_from(["", "", "", "#", " ", "\t", "# "]),
    st.integers(2, 6).flatmap(
        lambda n: st.tuples(
            *(st.tuples(st.sampled_from(words), _FSTAB_SEPARATORS) for words in _FIELDS[:n])
        )
    ),
).map(lambda e: e[0] + "".join(w + s for w, s in e[1]))
FSTAB_TEXT = st.one_of(
    st.lists(
        st.tuples(st.one_of(FSTAB_ENTRY, FSTAB_LINE, st.text(max_size=30)), _LINE_ENDS),
        max_size=8,
    ).map(lambda lines: "".join(line + end for line, end in lines)),
    st.text(max_size=200),
)
FSTAB = st.one_of(
    FSTAB_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    st.tuples(FSTAB_TEXT, st.binary(min_size=1, max_size=4)).map(
        lambda p: p[1] + p[0].encode("utf-8", "surrogatepass") + p[1]
    ),
)


def fstab5_boot(data: bytes) -> str | None:
    """Where an fstab mounts its vfat boot partition, read as fstab(5) says and libmount
    does: an entry a line (ended by a newline, a carriage return before it dropped), fields
    separated by spaces or tabs, '#' starting a comment line."""
    for line in data.decode("utf-8", "replace").split("\n"):
        line = line.removesuffix("\r")
        fields = [f for f in line.replace("\t", " ").split(" ") if f]
        entry = len(fields) >= 3 and not fields[0].startswith("#")
        if entry and fields[2] == "vfat" and fields[1] in ("/boot", "/boot/firmware"):
            return fields[1]
    return None


@given(FSTAB, st.booleans())
def test_an_fstab_gives_the_boot_directory_it_names(data: bytes, firmware: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp, "root")
        (rootfs / "etc").mkdir(parents=True)
        (rootfs / "etc/fstab").write_bytes(data)
        if firmware:
            (rootfs / "boot/firmware").mkdir(parents=True)
        got = bounded(lambda: diskimage.boot_dir(rootfs))
    fallback = "/boot/firmware" if firmware else "/boot"
    assert got == (fstab5_boot(data) or fallback)


# Trees: what a root's image may hold at /etc, /etc/fstab, /boot, /boot/firmware and below.
NODES = [
    "missing",
    "dir",
    "file",
    "fifo",
    "chardev",
    "host-file",  # absolute symlink to a host file (the witness)
    "host-dir",  # absolute symlink to a host directory
    "host-relative",  # relative symlink that, followed on the host, climbs to the witness
    "proc",  # /proc/self/root/<host path>
    "root",  # symlink to /
    "up",  # symlink to ../../../..
    "self",  # a loop
    "dangling",
]
TREE_PATHS = ["etc", "etc/fstab", "boot", "boot/firmware", "boot/firmware/config.txt"]
TREE_PATHS += ["boot/firmware/overlays", "boot/firmware/overlays/README"]
HOST_FSTAB = "host /boot vfat defaults 0 0\n"


def real_dir(rootfs: Path, path: Path) -> bool:
    """``path`` and every directory between ``rootfs`` and it are directories, no symlinks."""
    for part in [*reversed(path.relative_to(rootfs).parents), path.relative_to(rootfs)]:
        try:
            if not stat.S_ISDIR(os.lstat(rootfs / part).st_mode):
                return False
        except FileNotFoundError:
            return False
    return True


def make_tree(rootfs: Path, host: Path, shape: dict[str, str], fstab: bytes) -> None:
    rootfs.mkdir()
    for rel in TREE_PATHS:
        path = rootfs / rel
        if not real_dir(rootfs, path.parent):
            continue  # never create anything through a symlink
        node = shape.get(rel, "missing")
        links = {
            "host-file": str(host / "fstab"),
            "host-dir": str(host),
            "host-relative": os.path.relpath(host / "fstab", path.parent),
            "proc": f"/proc/self/root{host}/fstab",
            "root": "/",
            "up": "../../../..",
            "self": path.name,
            "dangling": "nowhere/at/all",
        }
        if node == "dir":
            path.mkdir()
        elif node == "file":
            path.write_bytes(fstab if rel == "etc/fstab" else b"from the image\n")
        elif node == "fifo":
            os.mkfifo(path)
        elif node == "chardev" and os.geteuid() == 0:
            os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # like /dev/zero
        elif node in links:
            path.symlink_to(links[node])


SHAPES = st.fixed_dictionaries(
    {rel: st.sampled_from(NODES) for rel in TREE_PATHS},
)

_OPENED: list[list[str]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _OPENED and event in ("open", "os.listdir", "os.scandir") and args:
        path = args[0]
        if isinstance(path, str | bytes):
            _OPENED[-1].append(os.fsdecode(path))


sys.addaudithook(_audit)


@given(SHAPES, FSTAB)
def test_the_boot_directory_is_read_inside_the_root(shape: dict[str, str], fstab: bytes) -> None:
    """Whatever /etc, /etc/fstab and /boot are (directories, files, FIFOs, device nodes,
    symlinks to the host's files, to /, up and out, loops): the fstab armroot reads is the
    root's own, never a host file (the host's fstab here would say /boot)."""
    with tempfile.TemporaryDirectory() as tmp:
        host = Path(tmp, "host")
        host.mkdir()
        (host / "fstab").write_text(HOST_FSTAB)
        witness = Witness(host)
        rootfs = Path(tmp, "root")
        make_tree(rootfs, host, shape, fstab)
        _OPENED.append([])
        try:
            got = bounded(lambda: ("found", diskimage.boot_dir(rootfs)))
        finally:
            opened = _OPENED.pop()
        assert isinstance(got, str) or got[1] in ("/boot", "/boot/firmware"), got
        real = os.path.realpath(rootfs)
        for path in opened:
            assert os.path.isabs(path) and is_within(real, os.path.realpath(path)), path
        assert witness.unchanged()


@given(SHAPES, st.sampled_from(["/boot", "/boot/firmware"]))
def test_the_boot_partition_goes_to_an_empty_directory_inside_the_root(
    shape: dict[str, str], where: str
) -> None:
    """The directory the boot partition's files are copied into (mcopy follows symlinks it
    finds there): an empty, real directory inside the root, where the root's system sees
    ``where``; nothing outside the root is removed or changed."""
    with tempfile.TemporaryDirectory() as tmp:
        host = Path(tmp, "host")
        host.mkdir()
        (host / "fstab").write_text(HOST_FSTAB)
        witness = Witness(host)
        rootfs = Path(tmp, "root")
        make_tree(rootfs, host, shape, b"")
        got = bounded(lambda: diskimage.boot_target(rootfs, where))
        assert witness.unchanged()
        if isinstance(got, str):
            return
        assert is_within(rootfs, got) and got != rootfs
        assert os.path.realpath(got) == str(got), "a symlink on the way"
        assert got.is_dir() and not any(got.iterdir())
        assert resolve_in_root(rootfs, where) == got


# --- regressions: what the properties above found --------------------------------------------


def test_regression_a_root_whose_etc_is_a_file_raised_not_a_directory() -> None:
    """Found by test_the_boot_directory_is_read_inside_the_root: /etc a regular file raised
    NotADirectoryError (from resolve_in_root, looking up /etc/fstab in it)."""
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp)
        (rootfs / "etc").write_text("")
        assert bounded(lambda: diskimage.boot_dir(rootfs)) == "/boot"
        (rootfs / "boot").write_text("")
        assert bounded(lambda: diskimage.boot_dir(rootfs)) == "/boot"


def test_regression_a_huge_sparse_fstab_was_read_whole() -> None:
    """Found reading boot_dir (bounded() now checks it in the fstab tests): the whole
    /etc/fstab was read into memory (an image can hold a sparse one of terabytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp)
        (rootfs / "etc").mkdir()
        with (rootfs / "etc/fstab").open("wb") as f:
            f.write(b"PARTUUID=4e639091-01 /boot vfat defaults 0 2\n")
            f.truncate(256 << 20)
        assert bounded(lambda: diskimage.boot_dir(rootfs), mib=8) == "/boot"


def test_regression_fstab_fields_were_split_at_any_unicode_space() -> None:
    """Found by test_an_fstab_gives_the_boot_directory_it_names (fuzz profile): str.split and
    str.splitlines cut at U+3000, U+0085, U+2028, \\f...; fstab(5) only at spaces and tabs,
    lines only at newlines."""
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp)
        (rootfs / "etc").mkdir()
        (rootfs / "boot/firmware").mkdir(parents=True)
        for text in ("x /boot\u3000vfat defaults 0 0\n", "# old:\x85x /boot vfat defaults\n"):
            (rootfs / "etc/fstab").write_text(text)
            assert bounded(lambda: diskimage.boot_dir(rootfs)) == "/boot/firmware"
        (rootfs / "etc/fstab").write_bytes(b"x /boot vfat defaults 0 2\r\n")  # as libmount
        assert bounded(lambda: diskimage.boot_dir(rootfs)) == "/boot"


def test_regression_boot_files_were_copied_through_the_roots_symlinks() -> None:
    """Found reading extract for what an image's root can make armroot do (then
    test_the_boot_partition_goes_to_an_empty_directory_inside_the_root was written): mcopy -s
    -n copied the boot partition into the root's /boot/firmware as it was, following its
    symlinks: an image holding /boot/firmware/config.txt -> /etc/shadow (or overlays -> /etc)
    had the host's file overwritten (checked with mtools by hand)."""
    with tempfile.TemporaryDirectory() as tmp:
        host = Path(tmp, "host")
        witness = Witness(host)
        rootfs = Path(tmp, "root")
        (rootfs / "boot/firmware").mkdir(parents=True)
        (rootfs / "boot/firmware/config.txt").symlink_to(host / "precious")
        (rootfs / "boot/firmware/overlays").symlink_to(host / "dir")
        got = bounded(lambda: diskimage.boot_target(rootfs, "/boot/firmware"))
        assert got == rootfs / "boot/firmware" and not any(got.iterdir())
        assert witness.unchanged()
        got.rmdir()
        got.symlink_to("/")  # the boot partition over the whole root: refused, nothing removed
        assert bounded(lambda: diskimage.boot_target(rootfs, "/boot/firmware")) == (
            "the image's /boot/firmware is its root directory (a symlink to /): armroot copies "
            "the boot partition to where the root's /etc/fstab mounts it"
        )
        assert witness.unchanged() and got.is_symlink()
