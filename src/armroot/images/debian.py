"""Bootstrap a Debian root for an ARM architecture with mmdebstrap."""

from __future__ import annotations

from dataclasses import dataclass
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
        ]
        if privileges.entered():
            # root of armroot's user namespace: mmdebstrap's own namespaces, no new id map
            args.append("--mode=unshare")
        if self.include:
            args.append("--include=" + ",".join(self.include))
        args += [self.suite, str(target), self.mirror]
        return args


def bootstrap(plan: DebianBootstrap, target: Path) -> None:
    """Run mmdebstrap into ``target`` (which must not exist or be empty)."""

    def show(line: str) -> None:
        if line.startswith(("I: ", "W: ", "E: ")):
            log.info("    " + line)
        else:
            log.debug(line)

    programs.run(plan.argv(target), on_line=show)
