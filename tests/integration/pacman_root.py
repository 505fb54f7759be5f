"""An Arch-Linux-ARM-like arm64 root for the pacman 7 tests: Debian trixie's own pacman 7.0
(pacman-package-manager, with makepkg and bsdtar), Arch Linux ARM's default [options] in
/etc/pacman.conf (DownloadUser = alpm, SigLevel = Required DatabaseOptional: the sandbox
and the signatures the real distribution has), an alpm system user, a keyring package's
files in /usr/share/pacman/keyrings (a test key, trusted) and a repository "probe" of two
packages signed by that key (the second with an install script that runs pacman-key, as a
keyring package's does), kept in the root at /var/local/armroot-repo for a test to serve
over http on 127.0.0.1 (its address goes into /etc/pacman.d/mirrorlist). os-release says
ID=arch and apt-get is gone, so armroot takes it for Arch. Cached like the plain roots.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from tests.helpers import armroot
from tests.integration.conftest import _cached_tarball, cache_dir

VERSION = "2"
REPO_INSIDE = "/var/local/armroot-repo"
PACKAGES = ("armroot-probe", "armroot-probe2")
# Arch Linux ARM's core/pacman/pacman.conf [options], its comments left out.
PACMAN_CONF = """[options]
HoldPkg     = pacman glibc
Architecture = aarch64
CheckSpace
ParallelDownloads = 5
DownloadUser = alpm
#DisableSandboxFilesystem
#DisableSandboxSyscalls
SigLevel    = Required DatabaseOptional
LocalFileSigLevel = Optional

[probe]
Include = /etc/pacman.d/mirrorlist
"""
PKGINFO = """pkgname = {name}
pkgbase = {name}
pkgver = 1.0-1
pkgdesc = a package made by armroot's tests
url = https://example.invalid
builddate = 1700000000
packager = armroot tests
size = 9
arch = any
license = MIT
"""
PACK = """set -e
for p in "$@"; do
  cd /srv/src/$p
  hook=$(ls -A | grep -x .INSTALL || true)
  bsdtar -czf /srv/out/$p-1.0-1-any.pkg.tar.gz .PKGINFO $hook usr
done
"""
# armroot-probe2 does what a keyring package's install script does (archlinuxarm-keyring:
# pacman-key --populate), which starts a gpg-agent inside a typed `pacman -Syu`.
KEYRING_HOOK = """post_install() {
  pacman-key --populate-from /usr/share/pacman/keyrings --populate >/dev/null 2>&1
  echo ran > /var/lib/armroot-keyring-hook
}
"""
SETUP = f"""set -e
useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin alpm
mkdir -p {REPO_INSIDE}/probe/aarch64 /var/lib/pacman /var/cache/pacman/pkg /etc/pacman.d \\
  /usr/share/pacman/keyrings
cp /srv/out/* {REPO_INSIDE}/probe/aarch64/
cd {REPO_INSIDE}/probe/aarch64 && repo-add -q probe.db.tar.gz *.pkg.tar.gz
cp /srv/armroottest.gpg /srv/armroottest-trusted /usr/share/pacman/keyrings/
cp /srv/pacman.conf /etc/pacman.conf
: > /etc/pacman.d/mirrorlist
sed -i 's/^ID=.*/ID=arch/' /usr/lib/os-release
rm /usr/bin/apt-get
"""


def _sign_all(folder: Path, out: Path) -> None:
    """A fresh key signs each package; its public half and trust line go into ``folder``
    (as a keyring package ships them). The GnuPG home's agent is stopped after."""
    with tempfile.TemporaryDirectory(prefix="armroot-pacman-gpg-") as home:
        env = dict(os.environ, GNUPGHOME=home)
        gpg = ("gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "")
        try:
            uid = "armroot test packager <packager@armroot.invalid>"
            subprocess.run([*gpg, "--quick-gen-key", uid, "ed25519", "sign", "never"], env=env,
                           check=True)  # fmt: skip
            listing = subprocess.run(
                [*gpg, "--with-colons", "--list-keys"], env=env, check=True, capture_output=True
            ).stdout.decode()
            fpr = next(
                line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
            )
            public = subprocess.run(
                [*gpg, "--export", "--armor"], env=env, check=True, capture_output=True
            ).stdout
            (folder / "armroottest.gpg").write_bytes(public)
            (folder / "armroottest-trusted").write_text(f"{fpr}:4:\n")
            for pkg in sorted(out.glob("*.pkg.tar.gz")):
                subprocess.run([*gpg, "--detach-sign", "-o", f"{pkg}.sig", str(pkg)], env=env,
                               check=True)  # fmt: skip
        finally:
            subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False)


def arch_like_tarball(arm64_tarball: Path, scratch: Path) -> Path:
    cache = cache_dir() / "roots"
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{arm64_tarball.name}:{VERSION}:{PACMAN_CONF}".encode()).hexdigest()
    folder = scratch / "arch-like-src"

    def make(home: Path) -> None:
        armroot("create", "seed", "--from", str(arm64_tarball), home=home, check=True)
        armroot(
            "install", "seed", "pacman-package-manager", "makepkg", "libarchive-tools",
            home=home, timeout=1800, check=True,
        )  # fmt: skip
        for name in PACKAGES:
            files = folder / "src" / name / "usr/share" / name
            files.mkdir(parents=True)
            (files / "hello").write_text(f"{name}-ok\n")
            (folder / "src" / name / ".PKGINFO").write_text(PKGINFO.format(name=name))
        (folder / "src/armroot-probe2/.INSTALL").write_text(KEYRING_HOOK)
        (folder / "out").mkdir()
        bind = f"{folder}:/srv"
        armroot("run", "seed", "--bind", bind, "--", "sh", "-c", PACK, "sh", *PACKAGES,
                home=home, check=True)  # fmt: skip
        _sign_all(folder, folder / "out")
        (folder / "pacman.conf").write_text(PACMAN_CONF)
        armroot("run", "seed", "--bind", bind, "--", "sh", "-c", SETUP, home=home, check=True)

    return _cached_tarball(cache / f"arch-like-arm64-{key[:16]}.tar", scratch, make)


MIRRORLIST = 'echo "Server = $0/\\$repo/\\$arch" > /etc/pacman.d/mirrorlist'
CHECK = (
    "for p in armroot-probe armroot-probe2; do cat /usr/share/$p/hello; done; "
    "pacman -Q armroot-probe armroot-probe2; pacman-conf DownloadUser; "
    "cat /var/lib/armroot-keyring-hook; "
    "ls -A /etc/pacman.d/gnupg | grep '^S\\.' || echo no-sockets"
)
EXPECTED = [
    "armroot-probe-ok",
    "armroot-probe2-ok",
    "armroot-probe",
    "1.0-1",
    "armroot-probe2",
    "1.0-1",
    "alpm",
    "ran",
    "no-sockets",
]
