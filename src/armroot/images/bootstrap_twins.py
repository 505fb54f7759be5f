"""Twins inside a Debian bootstrap: once mmdebstrap has installed the essential packages,
the root's shell, text tools and dpkg-deb run through their amd64 twins while apt installs
the rest (the default env's build tools), as sessions run them (armroot.accel.twin_session).

mmdebstrap runs in root mode as root of a user namespace of its own
(:mod:`armroot.sandbox.own_userns`, as root of the host or inside armroot's rootless one);
two of its hooks, run in that namespace, do the work:

- ``start`` (essential-hook): the twin set of the root as it is then (armroot.twins.prepare:
  fetched from the root's own archive and verified as for an env), the handler's files on a
  tmpfs at ROOT/run/armroot, and that user namespace's own binfmt_misc mounted over
  /proc/sys/fs/binfmt_misc of its (private) mount namespace: first the host's QEMU handlers
  again, then armroot's handler, which the kernel consults first.
- ``stop`` (the first customize-hook): armroot's handlers removed (the QEMU ones serve what
  runs after), the tmpfs detached, ROOT/run/armroot removed. The root is then what the
  emulated bootstrap makes (tested against plain mmdebstrap).

Either hook refuses to touch binfmt_misc unless it runs in other user and mount namespaces
than armroot's own and the instance it mounted is empty (a fresh one of its own). A hook
that cannot give twins says why in one line and the bootstrap goes on emulated; ``stop``
failing fails the bootstrap (the root would not be the archive's).

    python -m armroot.images.bootstrap_twins start ROOT CACHE TRIPLE MACHINE OUTER [verbose]
    python -m armroot.images.bootstrap_twins stop ROOT
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import NamedTuple

from armroot.host import binfmt
from armroot.sandbox.apply import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.accel.twin_session import Emulator

PREFIX = "armroot: "  # lines the bootstrap's progress shows (images.debian.Progress)
RUN_DIR = "run/armroot"  # in the root, only while the hooks' tmpfs is there
BINFMT = binfmt.BINFMT_DIR  # of the hooks' own mount namespace
OWN = "armroot-"  # armroot's handlers; the QEMU ones are registered as "qemu-*"


def namespaces() -> str:
    """This process's user and mount namespaces (``USER:MNT`` inode numbers)."""
    return ":".join(str(os.stat(f"/proc/self/ns/{ns}").st_ino) for ns in ("user", "mnt"))


class Hooks(NamedTuple):
    """What the hooks need (plain data): how to run armroot's Python, the cache, the root's
    target, what uname answers, and the namespaces armroot itself runs in."""

    python: str
    cache: str
    triple: str
    machine: str
    outer: str  # namespaces() of armroot: the hooks must run in others
    verbose: bool = False

    def arguments(self) -> tuple[str, ...]:
        """mmdebstrap's options: the essential-hook and the customize-hook (pure)."""
        run = f"{shlex.quote(self.python)} -m {__name__}"
        words = [self.cache, self.triple, self.machine, self.outer]
        start = shlex.join(words + (["verbose"] if self.verbose else []))
        return (
            f'--essential-hook={run} start "$1" {start}',
            f'--customize-hook={run} stop "$1"',
        )


def hooks_for(triple: str, machine: str, cache: Path, verbose: bool) -> Hooks | None:
    """The hooks for a bootstrap of a root for ``triple`` (``machine``: what its uname
    says), or None where the bootstrap runs its programs emulated: package changes without
    twins (``ARMROOT_ACCEL=none`` or ``clang``), a host that is not x86_64, a kernel before
    6.7."""
    from armroot.session.request import package_mode

    if package_mode() != "twins" or os.uname().machine != "x86_64":
        return None
    if not binfmt.own_instances():
        return None
    return Hooks(sys.executable, str(cache), triple, machine, namespaces(), verbose)


def _not_ours(outer: str) -> str | None:
    """Why this process must not mount binfmt_misc, or None."""
    mine = namespaces().split(":")
    theirs = outer.split(":")
    if len(theirs) != 2 or mine[0] == theirs[0] or mine[1] == theirs[1]:
        return "mmdebstrap runs in armroot's own namespaces"
    return None


def start(root: Path, cache: Path, triple: str, machine: str, outer: str, verbose: bool) -> str:
    """Give the rest of the bootstrap its twins; the line to show."""
    from armroot.accel import setup, toolchain, twin_session
    from armroot.errors import ArmrootError
    from armroot.twins import prepare

    why = _not_ours(outer)
    if why is not None:
        return f"the bootstrap's programs stay emulated: {why}"
    if (root / "run").is_symlink() or not (root / "run").is_dir():
        return "the bootstrap's programs stay emulated: the root's /run is not a directory"
    try:
        found = prepare.prepare(root, triple, cache)
        tools = toolchain.prepare(cache)
    except ArmrootError as exc:
        return f"the bootstrap's programs stay emulated: {exc.one_line()}"
    if not found.programs:
        return "the bootstrap's programs stay emulated: none of its packages has a twin"
    emulators = setup.emulators()
    accel = twin_session.session(
        found,
        str(cache / "twins"),
        tools.handler,
        tools.uname_preload,
        emulators,
        machine,
        triple,
        "0",
        verbose,
    )
    from armroot.sandbox import apply
    from armroot.sandbox.ops import Binfmt, MountOp, Tmpfs

    run_dir = root / RUN_DIR
    os.mkdir(run_dir, 0o755)  # an error if it is there: not ours to cover
    try:
        # The session's files for the handler (its binfmt entries: _register).
        ops: tuple[MountOp, ...] = (Tmpfs("/" + RUN_DIR), *accel.ops)
        files = tuple(op for op in ops if not isinstance(op, Binfmt))
        try:
            for warning in apply.apply_all(str(root), files):
                print(PREFIX + warning, flush=True)
            _register(emulators, tools.handler, twin_session.FLAGS)
        except BaseException:
            if os.path.ismount(run_dir):
                apply.detach(str(run_dir))
            raise
    except BaseException:
        os.rmdir(run_dir)
        raise
    packages = sorted({p.package for p in found.programs})
    return f"twins from here on: {len(found.programs)} programs of {', '.join(packages)} native"


def _register(emulators: tuple[Emulator, ...], handler: str, flags: str) -> None:
    """Mount this user namespace's own binfmt_misc over /proc/sys/fs/binfmt_misc (of this
    mount namespace), give it the host's QEMU handlers, then armroot's."""
    from armroot.sandbox import apply

    hosts = {h.name: h for h in binfmt.handlers()}
    apply.own_binfmt_over(str(BINFMT))
    try:
        for emulator in emulators:
            host = hosts.get(f"qemu-{emulator.qemu}")
            line = binfmt.entry_line(
                f"qemu-{emulator.qemu}",
                emulator.magic,
                emulator.mask,
                emulator.interpreter,
                "F" + (host.flags.replace("F", "") if host else "PO"),
            )
            binfmt.register(line, BINFMT)
        for emulator in emulators:
            line = binfmt.entry_line(
                f"{OWN}{emulator.qemu}", emulator.magic, emulator.mask, handler, flags
            )
            binfmt.register(line, BINFMT)
    except BaseException:
        apply.detach(str(BINFMT))
        raise


def stop(root: Path) -> str | None:
    """Take the twins away again; the line to show, if any. Only start's tmpfs is taken
    away (start removes its directory itself when it fails before the mount)."""
    from armroot.sandbox import apply

    run_dir = root / RUN_DIR
    if not os.path.ismount(run_dir):
        return None  # no twins were given (or it is not start's: left as it is)
    for name in os.listdir(BINFMT):
        if name.startswith(OWN):
            binfmt.remove(name, BINFMT)
    apply.detach(str(run_dir))
    os.rmdir(run_dir)
    return "twins put away; the root is the archive's"


def main(argv: list[str]) -> int:
    if len(argv) >= 6 and argv[0] == "start":
        root, cache, triple, machine, outer = argv[1:6]
        verbose = argv[6:] == ["verbose"]
        try:
            line = start(Path(root), Path(cache), triple, machine, outer, verbose)
        except OSError as exc:
            line = f"the bootstrap's programs stay emulated: {exc.strerror or exc}"
        except Exception as exc:  # start cleaned up after itself; the bootstrap goes on
            line = f"the bootstrap's programs stay emulated: {type(exc).__name__}: {exc}"
        print(PREFIX + line, flush=True)
        return 0  # the bootstrap goes on, emulated or not
    if len(argv) == 2 and argv[0] == "stop":
        try:
            said = stop(Path(argv[1]))
        except (OSError, SetupError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            print(f"{PREFIX}cannot put the twins away: {why}", flush=True)
            return 1
        if said:
            print(PREFIX + said, flush=True)
        return 0
    usage = [line.strip() for line in (__doc__ or "").splitlines() if "python -m" in line]
    print("usage: " + "\n       ".join(usage), file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
