"""Decide, for one session, whether and how its compilers run natively. The one place that
reads the root's gcc, the toolchain and the env's metadata together."""

from __future__ import annotations

import os
from collections.abc import Callable

from armroot import log
from armroot.accel import layout, mounts, probe, shim, toolchain
from armroot.rootfs import arch as archmod
from armroot.rootfs import boards
from armroot.rootfs.paths import DEFAULT_PATH, resolve_in_root
from armroot.store.envs import Env, Store, cache_home

GCC = layout.ROOT_GCC


def gcc_key(env: Env) -> str | None:
    """Identifies the root's gcc (the file /usr/bin/gcc leads to); None if it has none."""
    path = resolve_in_root(env.rootfs, GCC)
    try:
        st = os.stat(path)
    except OSError:
        return None
    inside = "/" + os.path.relpath(path, env.rootfs)
    return f"{inside}:{st.st_size}:{st.st_mtime_ns}"


def _clang_macros(tools: toolchain.Toolchain, env: Env, triple: str, flags: tuple[str, ...]) -> str:
    argv = [
        tools.zig,
        "clang",
        f"--target={triple}",
        f"--sysroot={env.rootfs}",
        "-resource-dir",
        os.path.join(tools.directory, "lib"),
        *flags,
        "-dM",
        "-E",
        "-x",
        "c",
        "/dev/null",
    ]
    from armroot.host import programs  # only when an env's target is first read

    done = programs.run(argv, check=False, capture=True)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise ValueError(f"the native compiler refuses the root's target flags: {first}")
    return done.stdout


def discover(
    env: Env, tools: toolchain.Toolchain, key: str, ask_gcc: Callable[[str], str]
) -> probe.Target:
    """Ask the root's gcc (``ask_gcc`` runs a script inside the root and returns its output)
    and check the native compiler, given the translated flags, predefines the same ABI."""
    with log.step(f"Reading the target of the root's gcc in '{env.name}'"):
        answer = probe.parse_probe(ask_gcc(probe.PROBE_SCRIPT))
    try:
        flags = probe.clang_flags(answer.triple, answer.cc1_args)
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
) -> mounts.SessionAccel | None:
    """The native toolchain's mounts and environment for a session in ``env``, or None (the
    root's own compilers), saying why when that is not what the user would expect."""
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
    key = f"{gcc}|{os.path.basename(os.path.dirname(tools.shim))}"
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
    verbose = log.VERBOSITY.get() >= log.Verbosity.VERBOSE
    log.debug(f"native compilers for {target.triple}: {' '.join(flags)}")
    qemu_cpu = board.qemu_cpu(arch) if board else env.meta.qemu_cpu
    parts = _native_cmake(env, tools, archmod.uname_machine(arch, qemu_cpu))
    return mounts.session(
        tools.directory,
        tools.shim,
        target.triple,
        flags,
        tool_list,
        verbose,
        DEFAULT_PATH,
        parts,
    )


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
