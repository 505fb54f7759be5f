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
        """The mmdebstrap command line (pure)."""
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
        if self.include:
            args.append("--include=" + ",".join(self.include))
        args += [self.suite, str(target), self.mirror]
        return args


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
