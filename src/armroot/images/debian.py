"""Bootstrap a Debian root for an ARM architecture with mmdebstrap, showing its progress
(packages n/N and the one being set up) and where its time went (:class:`Progress`)."""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from armroot import log
from armroot.host import privileges, programs
from armroot.images.bootstrap_twins import PREFIX, Hooks
from armroot.rootfs.arch import Arch

DEFAULT_INCLUDE = ("build-essential", "cmake", "ca-certificates")


@dataclass(frozen=True)
class DebianBootstrap:
    suite: str
    arch: Arch
    mirror: str
    include: tuple[str, ...]
    variant: str = "apt"
    twins: Hooks | None = None  # twins for the packages after the essential ones

    @property
    def own_userns(self) -> bool:
        """Whether mmdebstrap (root mode) runs in a user namespace of its own, where
        binfmt_misc is its own (its hooks give it twins) and no device node can be made."""
        return self.twins is not None and bool(self.include)

    def argv(self, target: Path) -> list[str]:
        """The command line (pure). mmdebstrap's root mode mounts /proc, /sys and /dev's
        parts into the target itself: in a mount namespace of its own they vanish with it,
        even when it is killed, instead of staying on the host."""
        if self.own_userns:
            wrap = [sys.executable, "-m", "armroot.sandbox.own_userns", "--"]
        elif privileges.entered():
            wrap = []  # mmdebstrap's unshare mode makes its own namespaces
        else:
            wrap = ["unshare", "--mount", "--propagation=private"]
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
        if privileges.entered() and not self.own_userns:
            # root of armroot's user namespace: mmdebstrap's own namespaces, no new id map
            args.append("--mode=unshare")
        if self.include:  # apt installs them after the essential packages
            args.append("--include=" + ",".join(self.include))
            if self.twins is not None:  # start after, stop before NO_PRECONFIGURE's
                start, stop = self.twins.arguments()
                args += [NO_PRECONFIGURE[0], start, stop, NO_PRECONFIGURE[1]]
            else:
                args += NO_PRECONFIGURE
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
            # a hook's line names its whole command: the hook is enough
            line = line.split(" in shell: ", 1)[0] if line.startswith("I: running --") else line
            if not line.startswith("I: success"):
                self.phases.append((line[3:].rstrip(". "), now))
            return line
        if line.startswith("E: "):
            return line
        if line.startswith(PREFIX):  # the twins' hooks (images.bootstrap_twins)
            return line.removeprefix(PREFIX)
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
    if plan.own_userns and privileges.is_host_root():
        make_devices(target)  # rootless, a root has none (as mmdebstrap's unshare mode makes it)
    log.info(f"    {progress.configured} packages set up; {progress.timings(time.monotonic())}")


# /dev as mmdebstrap's root mode makes it where it can make device nodes (its @devfiles):
# name, mode, kind (c: character device, l: symlink, d: directory), link or (major, minor).
DEVICES: tuple[tuple[str, int, str, str | tuple[int, int]], ...] = (
    ("console", 0o666, "c", (5, 1)),
    ("fd", 0o777, "l", "/proc/self/fd"),
    ("full", 0o666, "c", (1, 7)),
    ("null", 0o666, "c", (1, 3)),
    ("ptmx", 0o666, "c", (5, 2)),
    ("pts", 0o755, "d", ""),
    ("random", 0o666, "c", (1, 8)),
    ("shm", 0o755, "d", ""),
    ("stderr", 0o777, "l", "/proc/self/fd/2"),
    ("stdin", 0o777, "l", "/proc/self/fd/0"),
    ("stdout", 0o777, "l", "/proc/self/fd/1"),
    ("tty", 0o666, "c", (5, 0)),
    ("urandom", 0o666, "c", (1, 9)),
    ("zero", 0o666, "c", (1, 5)),
)


def make_devices(target: Path) -> None:
    """Give a root mmdebstrap made in a user namespace of its own (no mknod there) the /dev
    entries its root mode makes as root of the host: the same root either way."""
    import stat

    dev = target / "dev"
    if dev.is_symlink() or not dev.is_dir():
        raise OSError(f"{dev} is not a directory")
    for name, mode, kind, what in DEVICES:
        path = dev / name
        if os.path.lexists(path):
            continue
        if kind == "l":
            assert isinstance(what, str)
            os.symlink(what, path)
            continue
        if kind == "d":
            os.mkdir(path)
        else:
            assert isinstance(what, tuple)
            os.mknod(path, stat.S_IFCHR | mode, os.makedev(*what))
        os.chown(path, 0, 0, follow_symlinks=False)
        os.chmod(path, mode)
