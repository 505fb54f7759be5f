"""Bootstrap a Debian root for an ARM architecture with mmdebstrap, showing its progress
(packages n/N and the one being set up) and where its time went (:class:`Progress`)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from armroot import log
from armroot.host import privileges, programs
from armroot.rootfs.arch import Arch

DEFAULT_INCLUDE = ("build-essential", "cmake", "ca-certificates")


@dataclass(frozen=True)
class DebianBootstrap:
    suite: str
    arch: Arch
    mirror: str
    include: tuple[str, ...]
    variant: str = "apt"

    def argv(self, target: Path) -> list[str]:
        """The command line (pure). As root of the host, mmdebstrap (root mode) mounts
        /proc, /sys and /dev's parts into the target itself: in a mount namespace of its own
        they vanish with it, even when it is killed, instead of staying on the host."""
        wrap = [] if privileges.entered() else ["unshare", "--mount", "--propagation=private"]
        return [*wrap, *self.mmdebstrap_argv(target)]

    def mmdebstrap_argv(self, target: Path) -> list[str]:
        """mmdebstrap's own command line (pure)."""
        args = [
            "mmdebstrap",
            f"--variant={self.variant}",
            f"--architectures={self.arch.name}",
            "--format=directory",
            "--verbose",  # apt's and dpkg's lines: what Progress counts
        ]
        if privileges.entered():
            # root of armroot's user namespace: mmdebstrap's own namespaces, no new id map
            args.append("--mode=unshare")
        if self.include:  # apt installs them after the essential packages
            args += ["--include=" + ",".join(self.include), *NO_PRECONFIGURE]
        args += [self.suite, str(target), self.mirror]
        return args


# While apt installs the packages after the essential ones, its Pre-Install-Pkgs hook is
# cleared: debconf's dpkg-preconfigure, which runs apt-extracttemplates over every .deb, all
# emulated (about 10% of a cold create of the default env; docs/benchmarks.md W5). With
# DEBIAN_FRONTEND=noninteractive it asks nothing; each package's config script still runs
# when the package is configured. The root comes out the same (tested against mmdebstrap
# without the hooks: every path, owner, mode and content, dpkg's status and debconf's
# database; only debconf's own backups, *.dat-old, differ): the file is removed afterwards,
# and the empty directory apt-extracttemplates leaves is made as it would have.
_HOOK_FILE = "etc/apt/apt.conf.d/zz-armroot-bootstrap"
NO_PRECONFIGURE = (
    f'--essential-hook=printf "#clear DPkg::Pre-Install-Pkgs;\\n" > "$1/{_HOOK_FILE}"',
    f'--customize-hook=rm "$1/{_HOOK_FILE}" && mkdir -p -m 0755 "$1/var/cache/debconf/tmp.ci"',
)


_PLANNED = re.compile(r"^\d+ upgraded, (\d+) newly installed")
_FETCHED = re.compile(r"^Fetched (.+) in (.+)$")
_SETTING_UP = re.compile(r"^Setting up (\S+) ")
_UNPACKING = re.compile(r"^Unpacking (\S+) ")


@dataclass
class Progress:
    """What mmdebstrap's output says it is doing (pure: fed one line at a time)."""

    planned: int = 0  # packages apt said it would install, over all phases
    unpacked: int = 0
    configured: int = 0
    current: str = ""
    phases: list[tuple[str, float]] = field(default_factory=list)  # (title, start)

    def feed(self, line: str, now: float) -> str | None:
        """Take one line; the line to show the user, if it is one."""
        if line.startswith("I: "):
            if not line.startswith("I: success"):
                self.phases.append((line[3:].rstrip(". "), now))
            return line
        if line.startswith("E: "):
            return line
        if line.startswith("W: "):
            # apt inside the chroot, reading a config mmdebstrap has removed: harmless
            return None if "mmdebstrap.apt.conf" in line else line
        if match := _PLANNED.match(line):
            self.planned += int(match.group(1))
        elif match := _FETCHED.match(line):
            return f"fetched {match.group(1)} in {match.group(2)}"
        elif match := _UNPACKING.match(line):
            self.unpacked += 1
            self.current = f"unpacking {match.group(1)}"
        elif match := _SETTING_UP.match(line):
            self.configured += 1
            self.current = f"setting up {match.group(1)}"
        return None

    def timings(self, end: float) -> str:
        """Where the time went, phase by phase (the longer ones)."""
        spans = []
        for (title, start), following in zip(
            self.phases, [*(p[1] for p in self.phases[1:]), end], strict=True
        ):
            if following - start >= 1.0:
                spans.append(f"{title} {following - start:.0f}s")
        return ", ".join(spans)


def bootstrap(plan: DebianBootstrap, target: Path) -> None:
    """Run mmdebstrap into ``target`` (which must not exist or be empty)."""
    progress = Progress()
    with log.progress() as bar:
        task = bar.add_task("bootstrapping", total=None)

        def show(line: str) -> None:
            shown = progress.feed(line, time.monotonic())
            if shown is not None:
                log.info("    " + shown)
            else:
                log.debug(line)
            if progress.planned:
                bar.update(
                    task,
                    description=f"packages: {progress.current}",
                    completed=progress.configured,
                    total=progress.planned,
                )

        programs.run(plan.argv(target), on_line=show)
    log.info(f"    {progress.configured} packages set up; {progress.timings(time.monotonic())}")
