"""`armroot run NAME -- CMD` as the host's root, on a quick path beside the full CLI.

Most of what `armroot run` costs before the command starts is not the session: it is
Python importing the CLI and the planning code (`typing`, `re`, `json`, `pathlib`, the
store, the native toolchain set-up) and reading what the plan depends on. So the full path
(:func:`armroot.commands.session.run`) records, per env, the part of the plan that comes
from the env and the host (:class:`~armroot.runinputs.EnvInputs`) together with a
fingerprint of everything that part was made from; a later run that finds the fingerprint
unchanged skips straight to the session:

    launch.entry -> main(): parse (the plain forms only) -> env lock (shared) -> load the
    record -> fingerprint now == recorded? -> runinputs.plan_inputs -> sessionplan.plan
    -> sandbox.session.run_session

It builds the run's own inputs with the same code as the full path, and the session is run by
the same executor. Anything it does not handle — another verb, --verbose, an ordinary user
(rootless), a missing or stale record, a lock held by a package change, a bad argument —
returns None and the full CLI takes over, as if this module did not exist.

This module and everything it imports stay clear of `typing`, `re`, `enum`, `json`,
`pathlib`, `contextlib` and `collections` (a test checks).
"""

from __future__ import annotations

import fcntl
import marshal
import os
import sys
from types import SimpleNamespace

from armroot.errors import ArmrootError, ExternalCommandError, SandboxError
from armroot.rootfs.paths import resolve_in_root_str
from armroot.sandbox.ops import Bind, from_plain, to_plain
from armroot.session.inputs import EnvInputs, RunArgs, plan_inputs
from armroot.session.plan import plan
from armroot.store import home as locations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from armroot.sandbox.execute import Outcome

RECORD_VERSION = 1
# The environment variables the env's part of the plan reads (the native cmake switch, and
# where the native toolchain is cached).
ENVIRON = ("ARMROOT_NATIVE_CMAKE", "ARMROOT_CACHE", "XDG_CACHE_HOME")
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
# Inside the root: the directories whose entries the plan looks up (which compilers and
# which cmake there are: dpkg and pacman replace files by renaming, so a change shows in the
# directory), and the files it reads: gcc's identity, cmake's, and the package database that
# says which cmake version the root has (the native cmake matches it).
ROOT_DIRS = ("/", "/usr", "/usr/bin", "/usr/share", "/etc/alternatives", "/var/lib/pacman/local")
ROOT_FILES = ("/usr/bin/gcc", "/usr/bin/cmake", "/var/lib/dpkg/status")
CAP_SYS_ADMIN = 21

_FLAGS = {"--host-ca": "host_ca", "--no-accel": "no_accel"}
_FLAGS |= {"-v": "verbose", "--verbose": "verbose"}
_FLAGS |= {"-q": "quiet", "--quiet": "quiet"}
_REPEATED = {"--bind": "bind", "--env": "env"}


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """armroot's own words, and the command after ``--`` (None without one)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, None


def quick_parse(before: Sequence[str], command: Sequence[str] | None) -> SimpleNamespace | None:
    """`run`/`shell` in their plain forms (VERB NAME, options spelled out in full, values as
    separate words) parsed without argparse, to the same values; None for anything else,
    which argparse then parses (help, abbreviations, errors)."""
    if len(before) < 2 or before[0] not in ("run", "shell"):
        return None
    if before[0] == "shell" and command is not None:
        return None
    values: dict[str, object] = dict(verbose=False, quiet=False, host_ca=False, workdir=None)
    values.update(no_accel=False)
    bind: list[str] = []
    env: list[str] = []
    values.update(verb=before[0], bind=bind, env=env)
    repeated = {"bind": bind, "env": env}
    names: list[str] = []
    words = iter(before[1:])
    for word in words:
        if word in _FLAGS:
            values[_FLAGS[word]] = True
        elif word in _REPEATED or word == "--workdir":
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
            if word == "--workdir":
                values["workdir"] = value
            else:
                repeated[_REPEATED[word]].append(value)
        elif word.startswith("-") or names:
            return None
        else:
            names.append(word)
    if not names:
        return None
    values["name"] = names[0]
    if values["verb"] == "run":
        values["command"] = []
    return SimpleNamespace(**values)


def _signature(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns)


def _code() -> tuple[tuple[str, tuple[int, int, int, int] | None], ...]:
    """armroot's own source files: a record made by other code is not used."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found: list[tuple[str, tuple[int, int, int, int] | None]] = []
    for directory, subdirs, files in os.walk(package):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".c")):
                path = os.path.join(directory, name)
                found.append((path, _signature(path)))
    return tuple(found)


def _binfmt() -> tuple[tuple[str, bytes], ...] | None:
    """Every binfmt_misc entry's text (which handler runs ARM programs, with which flags)."""
    try:
        names = sorted(os.listdir(BINFMT_DIR))
    except OSError:
        return None
    state: list[tuple[str, bytes]] = []
    for name in names:
        if name == "register":
            continue
        try:
            with open(os.path.join(BINFMT_DIR, name), "rb") as entry:
                state.append((name, entry.read()))
        except OSError:
            state.append((name, b""))
    return tuple(state)


def _in_root(root: str, path: str) -> tuple[int, int, int, int] | str | None:
    """The signature of ``path`` inside ``root``, links followed there (a loop: so marked)."""
    try:
        return _signature(resolve_in_root_str(root, path))
    except ArmrootError:
        return "symlink loop"


def base_fingerprint(env_dir: str, root: str) -> tuple[object, ...]:
    """What the env's part of the plan was made from, short of the host files it binds."""
    inside = [_in_root(root, p) for p in ROOT_DIRS]
    files = [_in_root(root, p) for p in ROOT_FILES]
    return (
        RECORD_VERSION,
        sys.version_info[:2],
        _code(),
        tuple(os.environ.get(var) for var in ENVIRON),
        _binfmt(),
        _signature(os.path.join(env_dir, locations.META_FILE)),
        tuple(inside),
        tuple(files),
    )


def fingerprint(base: tuple[object, ...], inputs: EnvInputs) -> tuple[object, ...]:
    """``base`` and the host files the env's part of the plan binds (QEMU, the toolchain)."""
    sources = [*inputs.qemu_binds, *(op.source for op in inputs.accel_ops if isinstance(op, Bind))]
    return (*base, tuple((s, _signature(s)) for s in sources))


def record_path(env_dir: str, accel: bool) -> str:
    return os.path.join(env_dir, f"plan-{'accel' if accel else 'plain'}.record")


def save(env_dir: str, accel: bool, base: tuple[object, ...], inputs: EnvInputs) -> None:
    """Keep ``inputs`` for the quick path. The file is written unnamed (O_TMPFILE) and given
    its name when complete, so a reader finds a whole record or none (then it goes the full
    way), and a killed armroot leaves no partial file behind."""
    from armroot.host.syscalls import link_fd

    plain = (*inputs[:4], to_plain(inputs.accel_ops))
    data = marshal.dumps((fingerprint(base, inputs), plain))  # type: ignore[arg-type]
    path = record_path(env_dir, accel)
    try:
        with open(path, "rb") as current:
            if current.read() == data:
                return  # the same record is there (a run the quick path left to the full one)
    except OSError:
        pass
    fd = os.open(env_dir, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        try:  # noqa: SIM105 - this module does not import contextlib
            os.unlink(path)
        except FileNotFoundError:
            pass
        link_fd(fd, path)  # EEXIST if another run linked its record first: that one stays
    finally:
        os.close(fd)


def load(env_dir: str, accel: bool) -> EnvInputs | None:
    """The recorded inputs if what they were made from is unchanged; None otherwise."""
    try:
        with open(record_path(env_dir, accel), "rb") as record:
            st = os.fstat(record.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                return None  # only a record this user wrote, that no one else could change
            recorded, plain = marshal.load(record)
        root, qemu_cpu, qemu_binds, accel_env, accel_ops = plain
        inputs = EnvInputs(root, qemu_cpu, qemu_binds, accel_env, from_plain(accel_ops))
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError):
        return None
    base = base_fingerprint(env_dir, inputs.root)
    return inputs if fingerprint(base, inputs) == recorded else None


def check_outcome(outcome: Outcome, name: str, rootfs: str) -> None:
    """Raise what a session that could not run its command means for the user."""
    if outcome.setup_error:
        hint = "run with --verbose for the mount plan; report it if it persists"
        if rootfs in outcome.setup_error:
            # The root itself has an odd shape (a file or a link where a mount point goes):
            # armroot refuses to change the env's files to make the session fit.
            hint = (
                f"that path is in the env's own root ({rootfs}): make it what a Linux "
                "root has there (a directory), or create the env again"
            )
        raise SandboxError(f"could not set up the session in '{name}': {outcome.setup_error}", hint)
    if outcome.exec_error:
        error = ExternalCommandError(
            f"cannot run {outcome.exec_error} inside '{name}'",
            f"install it in the root, or check the name (armroot run {name} -- ls /usr/bin)",
        )
        error.exit_code = 127
        raise error


def _plain_name(name: str) -> bool:
    """store.check_name's rule, without `re`; an odd name goes the full way and is told."""
    allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
    return 0 < len(name) <= 63 and name[0].isalnum() and all(c in allowed for c in name)


def _has_sys_admin() -> bool:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def main(argv: list[str]) -> int | None:
    """Run the command the quick way and return its exit status; None: not handled here.
    ARMROOT_QUICK=0 turns the quick path off (every run plans in full)."""
    if os.geteuid() != 0 or os.environ.get("ARMROOT_QUICK") == "0":
        return None
    before, command = split_command(argv)
    args = quick_parse(before, command)
    if args is None or args.verb != "run" or args.verbose or not command:
        return None
    if not _plain_name(args.name) or not _has_sys_admin():
        return None
    env_dir = os.path.join(locations.store_home(True), "envs", args.name)
    try:
        lock = os.open(
            os.path.join(env_dir, locations.LOCK_FILE), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
        )
    except OSError:
        return None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a package change: the full path says so and waits
        inputs = load(env_dir, not args.no_accel)
        if inputs is None:
            return None
        run = RunArgs(
            args.name, tuple(command), tuple(args.bind), args.workdir, tuple(args.env), args.host_ca
        )
        try:
            spec_inputs = plan_inputs(inputs, run)
        except ArmrootError:
            return None  # the full path reports it
        # Here, not at the top: the CLI imports this module for quick_parse alone, and the
        # session's module loads ctypes.
        from armroot.sandbox.execute import run_session

        outcome = run_session(plan(spec_inputs))
    finally:
        os.close(lock)
    return _finish(outcome, args.name, inputs.root)


def _finish(outcome: Outcome, name: str, rootfs: str) -> int:
    if outcome.warnings:
        from armroot import log

        for warning in outcome.warnings:
            log.warn(warning)
    try:
        check_outcome(outcome, name, rootfs)
    except ArmrootError as exc:
        from armroot import log

        log.error(exc.one_line())
        return exc.exit_code
    return outcome.exit_code
