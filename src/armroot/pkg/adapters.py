"""apt, pacman and apk: argv builders, no side effects."""

from __future__ import annotations

import shlex
from typing import NamedTuple

Argv = tuple[str, ...]

_APT_ENV = ("DEBIAN_FRONTEND=noninteractive",)
# Trust the distribution's keyrings (archlinuxarm.gpg ...), when the root ships any (from
# where Arch's keyring packages put them: Debian's pacman-key would look in /usr/share/keyrings).
KEYRINGS = "/usr/share/pacman/keyrings"
POPULATE = (
    f"if ls {KEYRINGS}/*.gpg >/dev/null 2>&1; then pacman-key --populate-from {KEYRINGS} "
    "--populate; fi"
)
KEYRING_INIT = f"pacman-key --init && {POPULATE}"
# pacman-key (and a keyring package's install script) start a gpg-agent for the keyring's
# home. It is stopped in the same session, before the session's end would kill it and leave
# its sockets in /etc/pacman.d/gnupg (those an earlier killed agent left go too: a package
# change runs alone in the env).
GNUPG_HOME = "/etc/pacman.d/gnupg"
STOP_AGENT = (
    f"{{ ! command -v gpgconf >/dev/null || gpgconf --homedir {GNUPG_HOME} --kill all; }}; "
    f"rm -f {GNUPG_HOME}/S.gpg-agent*"
)


def agent_stopped(script: str) -> Argv:
    """``script`` (a shell command line), then the keyring's agent stopped; its status."""
    return ("sh", "-c", f"{script}; s=$?; {STOP_AGENT}; exit $s")


class Adapter(NamedTuple):
    name: str
    binary: str  # path inside the root whose presence shows the manager
    families: tuple[str, ...]  # os-release ID / ID_LIKE values
    env: tuple[str, ...]  # K=V for every command

    def prepare(self, keyring_ready: bool) -> tuple[Argv, ...]:
        """Commands to run once before the first install (pacman's keyring)."""
        if self.name == "pacman" and not keyring_ready:
            return (agent_stopped(KEYRING_INIT),)
        return ()

    def install(self, packages: tuple[str, ...]) -> tuple[Argv, ...]:
        if self.name == "apt":
            return (
                ("apt-get", "update", "-q"),
                ("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages),
            )
        if self.name == "pacman":
            return (
                agent_stopped(shlex.join(("pacman", "-Syu", "--needed", "--noconfirm", *packages))),
            )
        return (("apk", "add", "--no-progress", "-U", *packages),)

    def upgrade(self) -> tuple[Argv, ...]:
        if self.name == "apt":
            return (("apt-get", "update", "-q"), ("apt-get", "dist-upgrade", "-y", "-q"))
        if self.name == "pacman":
            return (agent_stopped("pacman -Syu --noconfirm"),)
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
        if self.name == "pacman":
            keyring = f"{{ test -s {GNUPG_HOME}/trustdb.gpg || {{ {KEYRING_INIT}; }}; }}"
            pacman = "pacman -Syu --needed --noconfirm $m"
            install = agent_stopped(f"{keyring} && {pacman}")[2]
        else:
            steps = [shlex.join(step) for step in self.install(("@PKGS@",))]
            install = " && ".join(steps).replace("@PKGS@", "$m")
        return ("sh", "-c", f'm=$({check}); [ -z "$m" ] || {{ {install}; }}')


APT = Adapter("apt", "/usr/bin/apt-get", ("debian", "ubuntu", "raspbian"), _APT_ENV)
PACMAN = Adapter("pacman", "/usr/bin/pacman", ("arch", "archarm"), ())
APK = Adapter("apk", "/sbin/apk", ("alpine",), ())
