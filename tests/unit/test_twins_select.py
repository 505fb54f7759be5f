"""Twins chosen from the root's dpkg status and the archive's amd64 index: same source and
version, Debian's cross compilers for the root's gcc, the libraries they need."""

from __future__ import annotations

from armroot.twins import deb822, select

STATUS = """\
Package: grep
Status: install ok installed
Architecture: arm64
Source: grep (3.11-4)
Version: 3.11-4+b1
Depends: libpcre2-8-0 (>= 10.32)

Package: make
Status: install ok installed
Architecture: arm64
Source: make-dfsg
Version: 4.4.1-2

Package: sed
Status: deinstall ok config-files
Architecture: arm64
Version: 4.9-2

Package: gcc-14-aarch64-linux-gnu
Status: install ok installed
Architecture: arm64
Source: gcc-14
Version: 14.2.0-19

Package: gcc-14-arm-linux-gnueabihf
Status: install ok installed
Architecture: arm64
Source: gcc-14
Version: 14.2.0-19

Package: bash
Status: install ok installed
Architecture: arm64
Version: 5.2.37-2+b10
"""

INDEX = """\
Package: grep
Version: 3.11-4
Architecture: amd64
Pre-Depends: libc6 (>= 2.34), libpcre2-8-0 (>= 10.32)
Filename: pool/main/g/grep/grep_3.11-4_amd64.deb
Size: 431488
SHA256: 2d78

Package: make
Source: make-dfsg
Version: 4.4.1-1
Architecture: amd64
Depends: libc6 (>= 2.38)

Package: gcc-14-aarch64-linux-gnu
Source: gcc-14-cross (9)
Version: 14.2.0-19cross1
Architecture: amd64
Depends: cpp-14-aarch64-linux-gnu (= 14.2.0-19cross1), libgcc-14-dev-arm64-cross (>= 14),
 libmpc3 (>= 1.1.0) | libmpc-alt, libc6 (>= 2.38)
Built-Using: gcc-14 (= 14.2.0-19)

Package: libc6
Version: 2.41-12
Architecture: amd64
Depends: libgcc-s1

Package: libgcc-s1
Version: 14.2.0-19
Architecture: amd64
Depends: gcc-14-base (= 14.2.0-19), libc6 (>= 2.35)

Package: gcc-14-base
Version: 14.2.0-19
Architecture: amd64

Package: libpcre2-8-0
Version: 10.45-1
Architecture: amd64
Depends: libc6 (>= 2.34)

Package: libmpc3
Version: 1.3.1-1+b3
Architecture: amd64
Depends: libc6 (>= 2.4)

Package: libgcc-14-dev-arm64-cross
Version: 14.2.0-19cross1
Architecture: all
"""


def test_status_keeps_what_is_installed_with_its_source_version() -> None:
    installed = deb822.installed(STATUS)
    assert "sed" not in installed  # removed, only its configuration left
    grep = installed["grep"]
    assert (grep.source, grep.source_version, grep.version) == ("grep", "3.11-4", "3.11-4+b1")
    assert installed["bash"].source_version == "5.2.37-2+b10"  # no Source: the binary's own


def test_twins_are_the_same_source_version_and_cross_compilers_of_the_root_s_gcc() -> None:
    choice = select.choose(deb822.installed(STATUS), deb822.index(INDEX), "aarch64-linux-gnu")
    twinned = {t.root.name: t.twin.version for t in choice.twins}
    # grep's binNMU (+b1) is a rebuild of 3.11-4: the amd64 3.11-4 is its twin.
    assert twinned == {"grep": "3.11-4", "gcc-14-aarch64-linux-gnu": "14.2.0-19cross1"}
    missing = dict(choice.missing)
    assert missing["make"] == "the archive has 4.4.1-1 for amd64, not 4.4.1-2"
    assert missing["bash"] == "the archive has no amd64 build"
    # A compiler for another triple is not this root's.
    assert (
        "gcc-14-arm-linux-gnueabihf" not in twinned and "gcc-14-arm-linux-gnueabihf" not in missing
    )
    # Libraries the twins link, closed over their own dependencies; never -cross target libs
    # (the twin compilers build with the root's) nor other programs.
    assert [p.name for p in choice.support] == [
        "gcc-14-base",
        "libc6",
        "libgcc-s1",
        "libmpc3",
        "libpcre2-8-0",
    ]


def test_a_cross_compiler_built_from_another_gcc_version_is_no_twin() -> None:
    status = STATUS.replace("Version: 14.2.0-19\n", "Version: 14.2.0-20\n", 1)
    choice = select.choose(deb822.installed(status), deb822.index(INDEX), "aarch64-linux-gnu")
    assert "gcc-14-aarch64-linux-gnu" not in {t.root.name for t in choice.twins}
    assert dict(choice.missing)["gcc-14-aarch64-linux-gnu"] == (
        "the archive has 14.2.0-19cross1 for amd64, not 14.2.0-20"
    )


def test_a_release_file_lists_its_indexes_by_sha256() -> None:
    a, b = "ab" * 32, "DE" * 32
    release = (
        f"Origin: Debian\nSHA256:\n {a} 12 main/binary-amd64/Packages.xz\n {b} 3 x\n"
        " ../../../w 5 y\n"  # not a sha256: it would name a cache file and a URL
    )
    assert deb822.release_sha256(release) == {
        "main/binary-amd64/Packages.xz": (a, 12),
        "x": (b.lower(), 3),
    }


def test_dpkg_and_apt_are_wanted_for_some_of_their_programs() -> None:
    status = STATUS + (
        "\nPackage: dpkg\nStatus: install ok installed\nArchitecture: arm64\n"
        "Version: 1.22.21\n\nPackage: apt\nStatus: install ok installed\n"
        "Architecture: arm64\nVersion: 3.0.3\n"
    )
    index = INDEX + (
        "\nPackage: dpkg\nArchitecture: amd64\nVersion: 1.22.21\nFilename: pool/d.deb\n"
        "Size: 1\nSHA256: " + "a" * 64 + "\n\nPackage: apt\nArchitecture: amd64\n"
        "Version: 3.0.2\nFilename: pool/a.deb\nSize: 1\nSHA256: " + "b" * 64 + "\n"
    )
    choice = select.choose(deb822.installed(status), deb822.index(index), "aarch64-linux-gnu")
    assert "dpkg" in {t.root.name for t in choice.twins}
    assert dict(choice.missing)["apt"] == "the archive has 3.0.2 for amd64, not 3.0.3"
