"""apt, pacman and apk: argv builders, no side effects."""

from __future__ import annotations

import shlex
from typing import NamedTuple

Argv = tuple[str, ...]

_APT_ENV = ("DEBIAN_FRONTEND=noninteractive",)
# Trust the distribution's keyrings (archlinuxarm.gpg ...), when the root ships any.
POPULATE = (
    "sh",
    "-c",
    "if ls /usr/share/pacman/keyrings/*.gpg >/dev/null 2>&1; then pacman-key --populate; fi",
)


class Adapter(NamedTuple):
    name: str
    binary: str  # path inside the root whose presence shows the manager
    families: tuple[str, ...]  # os-release ID / ID_LIKE values
    env: tuple[str, ...]  # K=V for every command

    def prepare(self, keyring_ready: bool) -> tuple[Argv, ...]:
        """Commands to run once before the first install (pacman's keyring)."""
        if self.name == "pacman" and not keyring_ready:
            return (("pacman-key", "--init"), POPULATE)
        return ()

    def install(self, packages: tuple[str, ...]) -> tuple[Argv, ...]:
        if self.name == "apt":
            return (
                ("apt-get", "update", "-q"),
                ("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages),
            )
        if self.name == "pacman":
            return (("pacman", "-Syu", "--needed", "--noconfirm", *packages),)
        return (("apk", "add", "--no-progress", "-U", *packages),)

    def upgrade(self) -> tuple[Argv, ...]:
        if self.name == "apt":
            return (("apt-get", "update", "-q"), ("apt-get", "dist-upgrade", "-y", "-q"))
        if self.name == "pacman":
            return (("pacman", "-Syu", "--noconfirm"),)
        return (("apk", "upgrade", "--no-progress", "-U"),)

    def missing(self, packages: tuple[str, ...]) -> Argv:
        """A command printing, one per line, which of ``packages`` are not installed."""
        if self.name == "apt":
            test = 'dpkg-query -W -f="\\${db:Status-Status}" "$p" 2>/dev/null | grep -qx installed'
        elif self.name == "pacman":
            test = 'pacman -Q "$p" >/dev/null 2>&1'
        else:
            test = 'apk info -e "$p" >/dev/null 2>&1'
        script = f'for p in "$@"; do {test} || echo "$p"; done'
        return ("sh", "-c", script, "sh", *packages)

    def install_missing(self, packages: tuple[str, ...]) -> Argv:
        """One command that installs whichever of ``packages`` are missing (pacman's keyring
        prepared first when it has none)."""
        check = shlex.join(self.missing(packages))
        steps = [shlex.join(step) for step in self.install(("@PKGS@",))]
        if self.name == "pacman":
            steps = [
                "{ test -s /etc/pacman.d/gnupg/trustdb.gpg || "
                f"{{ pacman-key --init && {POPULATE[2]}; }}; }}",
                *steps,
            ]
        install = " && ".join(steps).replace("@PKGS@", "$m")
        return ("sh", "-c", f'm=$({check}); [ -z "$m" ] || {{ {install}; }}')


APT = Adapter("apt", "/usr/bin/apt-get", ("debian", "ubuntu", "raspbian"), _APT_ENV)
PACMAN = Adapter("pacman", "/usr/bin/pacman", ("arch", "archarm"), ())
APK = Adapter("apk", "/sbin/apk", ("alpine",), ())
