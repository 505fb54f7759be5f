"""`armroot build` and `armroot init`: build a project inside an environment for a board."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path
from typing import NamedTuple

from armroot import log, pkg
from armroot.accel import compile_cache
from armroot.build import artifacts as artmod
from armroot.build import config as configmod
from armroot.build import detect
from armroot.commands import packages
from armroot.commands.create import CreateOptions, create
from armroot.distribute import client as distclient
from armroot.distribute.hosts import local_jobs
from armroot.errors import EnvNotFound, ExternalCommandError, UsageError
from armroot.rootfs import arch as archmod
from armroot.rootfs import boards
from armroot.rootfs.boards import Board
from armroot.session.request import Request, accel_mode
from armroot.session.run import run
from armroot.store.envs import Env, Store

LOG_NAME = "armroot-build.log"
STATUS_NAME = ".armroot-build-status"
SMOKE_STATUS = "/build/.armroot-smoke-status"


class BuildOptions(NamedTuple):
    env: str | None = None
    src: Path = Path()
    out: Path | None = None
    ephemeral: bool = False
    command: tuple[str, ...] = ()
    host_ca: bool = False
    accel: str | None = None  # an ACCEL_MODES mode; None: armroot.toml's, else auto
    compile_cache: bool = True  # accelerated compiles through the compiler cache
    distribute: tuple[str, ...] = ()  # helpers (HOST[:PORT][/JOBS]) that take the compiles
    offline: bool = False  # create a missing env from the cache only; install nothing


class BuildResult(NamedTuple):
    env: str
    system: str
    build_dir: str
    artifacts: tuple[str, ...]
    smoke: str | None  # the smoke command run, if any


def init(directory: Path) -> Path:
    path = directory / configmod.FILENAME
    if path.exists():
        raise UsageError(f"{path} already exists", "edit it, or remove it first")
    path.write_text(configmod.STARTER)
    return path


def _env_for(options: BuildOptions, config: configmod.ProjectConfig, store: Store) -> Env:
    name = options.env or config.env
    if not name:
        raise UsageError(
            "no environment to build in",
            "give one (armroot build ENV) or set [env] name in armroot.toml",
        )
    try:
        return store.get(name)
    except EnvNotFound:
        if not (config.image or config.board):
            raise
    log.info(f"'{name}' does not exist yet: creating it as armroot.toml says")
    cache = "offline" if options.offline else "auto"
    return create(CreateOptions(name, config.image, board=config.board, cache=cache), store)


def _offline_packages(env: Env, config: configmod.ProjectConfig, store: Store) -> None:
    """With --offline, armroot.toml's packages must all be installed already."""
    absent = packages.missing(env.name, config.packages, store)
    if absent:
        raise UsageError(
            f"armroot.toml's packages {', '.join(absent)} are not installed in '{env.name}', "
            "and --offline downloads nothing",
            "build once without --offline to install them",
        )


def _check_image(env: Env, config: configmod.ProjectConfig) -> None:
    """armroot.toml's image, when it names an architecture, must be the env's."""
    if not config.image:
        return
    from armroot.images import source as sourcemod

    try:
        src = sourcemod.parse(config.image)
    except UsageError:
        return  # a path or URL that is not here: the env exists, so it was used before
    arch = getattr(src, "arch", None)
    if arch and archmod.by_name(arch).name != env.meta.arch:
        raise UsageError(
            f"'{env.name}' is {env.meta.arch}, but armroot.toml's image {config.image} is {arch}",
            "make them agree, or build in another environment",
        )


def _board(env: Env, config: configmod.ProjectConfig) -> Board | None:
    if config.board and env.meta.board and config.board != env.meta.board:
        raise UsageError(
            f"'{env.name}' is for {env.meta.board}, but armroot.toml says {config.board}",
            "make them agree, or build in another environment",
        )
    name = config.board or env.meta.board
    if name is None:
        return None
    board = boards.by_name(name)
    arch = archmod.by_name(env.meta.arch)
    level = archmod.CpuLevel(env.meta.cpu_level) if env.meta.cpu_level else None
    if not board.runs(arch, level):
        raise UsageError(
            f"'{env.name}' is an {arch.name} ({env.meta.cpu_level}) root, which {board.name} "
            "cannot run",
            f"create an environment for {board.name} (armroot create NAME --board {board.name})",
        )
    return board


def _build_dir(env: Env, src: Path, accel: str) -> Path:
    """Per project, and per compiler choice: a build configured with the native compilers
    records their paths, which other sessions do not have (and the other way round)."""
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", src.name)[:40] or "src"
    digest = hashlib.sha256(str(src).encode()).hexdigest()[:10]
    suffix = {"clang": "", "none": "-emulated"}.get(accel, f"-{accel}")
    path = env.path / "builds" / f"{slug}-{digest}{suffix}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _script(steps: tuple[tuple[str, ...], ...], quiet: bool, smoke: tuple[str, ...]) -> str:
    """The build as one sh script: output teed into the log (only logged when quiet); the
    exit status survives the pipe through a file (POSIX sh has no pipefail). With ``smoke``,
    the smoke test follows in the same session and leaves its status in a file."""
    body = " && ".join(shlex.join(step) for step in steps) or "true"
    log_path = f"{detect.BUILD_DIR}/{LOG_NAME}"
    status = f"{detect.BUILD_DIR}/{STATUS_NAME}"
    sink = f"> {log_path} 2>&1" if quiet else f"2>&1 | tee {log_path}"
    script = f"( {body} ; echo $? > {status} ) {sink}; s=$(cat {status}); "
    if not smoke:
        return script + "exit $s"
    return (
        script + f'[ "$s" = 0 ] || exit $s; rm -f {SMOKE_STATUS}; '
        f"{shlex.join(smoke)}; echo $? > {SMOKE_STATUS}; exit 0"
    )


def _read_own(path: Path) -> str | None:
    """A file the session wrote in the build directory, never through a symlink it planted."""
    import os

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, errors="replace") as f:
        return f.read(16 << 20)


def _distributable(mode: str) -> None:
    """A distributed build sends the native compilers' compiles: the clang's, or the twin
    gcc's (what auto becomes decides which)."""
    if mode == "none":
        raise UsageError(
            "--distribute sends the native compilers' compiles to helpers; --accel none "
            "compiles everything emulated",
            'drop --no-accel (or accel = "none"), or build without helpers',
        )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def build(options: BuildOptions, store: Store | None = None) -> BuildResult:
    store = store or Store()
    src = options.src.resolve()
    if not src.is_dir():
        raise UsageError(f"--src {options.src}: not a directory", "give the project's directory")
    config = configmod.load(src) or configmod.ProjectConfig()
    env = _env_for(options, config, store)
    _check_image(env, config)
    board = _board(env, config)
    if board is not None and (pages := boards.page_size_warning(board)):
        log.warn(pages)
    arch = archmod.by_name(env.meta.arch)
    mode = accel_mode(options.accel, configured=config.accel)
    wanted, own_words = distclient.asked(options.distribute, config.distribute)
    if wanted and not own_words and mode == "none":
        log.info(f"DISTCC_HOSTS is set, but --accel {mode} compiles here: not distributed")
        wanted = ()
    if wanted:
        _distributable(mode)
    # The build system is known before anything is installed (an unknown one is one line).
    system = "command" if options.command else config.system
    if system == "auto":
        system = detect.detect(src)
    before: tuple[tuple[str, ...], ...] = ()  # steps before the build's own
    if config.packages and options.offline:
        _offline_packages(env, config, store)
    elif config.packages:
        if options.ephemeral:
            # One session: what is installed lives only in this build's overlay.
            adapter = pkg.detect(env.rootfs)
            before = (adapter.install_missing(config.packages),)
        else:
            done = packages.install(
                env.name, config.packages, options.host_ca, store, only_missing=True
            )
            if done.installed:
                log.info(f"installed {', '.join(done.installed)}")
    from armroot.accel import setup

    # What auto comes to, before the build directory is chosen: it records the compilers.
    accel = setup.resolve(env, mode)
    distributed = distclient.plan(wanted, distclient.probes(env, accel)) if wanted else None
    jobs = distributed.jobs if distributed and distributed.hosts else None
    if options.command:
        plan = detect.BuildPlan("command", (options.command,))
    else:
        plan = detect.plan(system, src, config.configure, config.build, jobs)
    steps = (*before, *plan.steps)
    build_dir = _build_dir(env, src, accel)
    qemu_env: tuple[str, ...] = (f"QEMU_CPU={board.qemu_cpu(arch)}",) if board else ()
    # For build commands of the project's own: the jobs the default build runs.
    qemu_env += (f"ARMROOT_JOBS={jobs or local_jobs()}",)
    if config.packages and options.ephemeral:
        qemu_env += pkg.detect(env.rootfs).env
    binds = (f"{src}:{src}", f"{build_dir}:{detect.BUILD_DIR}")
    quiet = log.VERBOSITY.get() < log.Verbosity.NORMAL
    # With --ephemeral what the build installed lives only in its session: the smoke test
    # must run there too.
    smoke_inside = config.smoke if options.ephemeral else ()

    def session(argv: tuple[str, ...], accel: str) -> int:
        options_ = Request(
            env.name,
            argv,
            binds,
            str(src),
            qemu_env,
            options.host_ca,
            options.ephemeral,
            accel=accel,
            board=board.name if board else None,
            compile_cache=options.compile_cache,
            distribute=distributed.hosts if distributed and accel != "none" else (),
            cache_stats=f"{detect.BUILD_DIR}/{compile_cache.STATS_LOG_NAME}" if counted else None,
        )
        return run(options_).exit_code

    # With --verbose, the compiler cache counts this build's compiles.
    counted = options.compile_cache and log.VERBOSITY.get() >= log.Verbosity.VERBOSE
    stats_log = build_dir / compile_cache.STATS_LOG_NAME
    stats_log.unlink(missing_ok=True)
    with log.step(f"Building {src.name} in '{env.name}' ({plan.system})"):
        code = session(("sh", "-c", _script(steps, quiet, smoke_inside)), accel)
    if distributed and distributed.used:
        for host in distclient.gone(distributed.used):
            log.warn(
                f"helper {host.label} stopped answering during the build: its jobs ran elsewhere"
            )
    if counted and (text := _read_own(stats_log)) is not None:
        log.info(compile_cache.parse_stats_log(text).line())
    if code != 0:
        if quiet:
            log.console().print(_tail(build_dir / LOG_NAME), markup=False, highlight=False)
        raise ExternalCommandError(
            f"the build failed with exit status {code}",
            f"the last lines of its output are above; the whole log is {build_dir / LOG_NAME}",
        )
    found = artmod.find(config.artifacts, build_dir, src)
    artmod.check(found, arch, board)
    smoke = shlex.join(config.smoke) if config.smoke else None
    if smoke and smoke_inside:
        status_file = build_dir / Path(SMOKE_STATUS).name
        smoke_code = int(status_file.read_text().strip() or 1) if status_file.exists() else 1
    elif smoke:
        cpu = board.qemu_cpu(arch) if board else (env.meta.qemu_cpu or "the env's CPU")
        with log.step(f"Smoke test under {cpu}: {smoke}"):
            smoke_code = session(config.smoke, "none")
    if smoke and smoke_code != 0:
        raise artmod.ArtifactError(
            f"the smoke test `{smoke}` failed with exit status {smoke_code}",
            "the built program does not run on the board's CPU model; see its output above",
        )
    out = options.out or (src / "armroot-out")
    copied = artmod.hand_over(found, out) if found else []
    return BuildResult(env.name, plan.system, str(build_dir), tuple(str(p) for p in copied), smoke)
