"""One handler per verb, named by its entry in :mod:`armroot.cli.table`: the options from
the parsed arguments, the library call (:mod:`armroot.commands`), the rendering, the exit
code. Each imports only what its verb needs, so a verb starts quickly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from armroot import log
from armroot.cli import render

if TYPE_CHECKING:
    from argparse import Namespace
    from types import SimpleNamespace

    Args = Namespace | SimpleNamespace
    Command = list[str] | None


def create(args: Args, command: Command) -> int:
    from armroot.commands import create as create_cmd
    from armroot.errors import UsageError

    chosen = [f for f in ("refresh", "offline", "no_cache") if getattr(args, f, False)]
    if len(chosen) > 1:
        flags = " and ".join("--" + f.replace("_", "-") for f in chosen)
        raise UsageError(f"{flags} contradict each other", "give one of them")
    cache = {"refresh": "refresh", "offline": "offline", "no_cache": "off"}.get(
        chosen[0] if chosen else "", "auto"
    )
    env = create_cmd.create(
        create_cmd.CreateOptions(
            args.name,
            args.source,
            args.arch,
            args.include,
            args.minimal,
            args.mirror,
            args.board,
            args.sha256,
            args.no_verify,
            cache,
        )
    )
    log.info(
        f"created '{env.name}': {env.meta.os_name or env.meta.source}, "
        f"{env.meta.arch}, {render.human_size(env.meta.size_bytes)}"
    )
    return 0


def session(args: Args, command: Command) -> int:
    """`run` and `shell`."""
    from armroot.cli.launch import session_verb

    return session_verb(args, command)


def install(args: Args, command: Command) -> int:
    from armroot.commands import packages

    done = packages.install(args.name, tuple(args.packages), args.host_ca)
    log.info(f"installed with {done.manager}: {', '.join(done.installed)}")
    return 0


def upgrade(args: Args, command: Command) -> int:
    from armroot.commands import packages

    done = packages.upgrade(args.name, args.host_ca)
    log.info(f"upgraded '{args.name}' with {done.manager}")
    return 0


def build(args: Args, command: Command) -> int:
    from pathlib import Path

    from armroot.commands import build as build_cmd

    result = build_cmd.build(
        build_cmd.BuildOptions(
            args.name,
            Path(args.src),
            Path(args.out) if args.out else None,
            args.ephemeral,
            tuple(command or ()),
            args.host_ca,
            accel="none" if args.no_accel else args.accel,
            compile_cache=not args.no_cache,
            distribute=tuple(args.distribute),
            offline=args.offline,
        )
    )
    for artifact in result.artifacts:
        print(artifact)
    log.info(f"built in '{result.env}' ({result.system}); {len(result.artifacts)} artifact(s)")
    return 0


def init(args: Args, command: Command) -> int:
    from pathlib import Path

    from armroot.commands import build as build_cmd

    path = build_cmd.init(Path(args.dir))
    log.info(f"wrote {path}")
    return 0


def boards(args: Args, command: Command) -> int:
    from armroot.rootfs import boards as boards_

    render.boards(boards_.BOARDS, args.json)
    return 0


def snapshot(args: Args, command: Command) -> int:
    from armroot.commands import snapshot as snapshot_cmd

    snapshot_cmd.snapshot(args.name, args.snapshot)
    log.info(f"saved '{args.name}' as snapshot '{args.snapshot}'")
    return 0


def reset(args: Args, command: Command) -> int:
    from armroot.commands import snapshot as snapshot_cmd

    chosen = snapshot_cmd.reset(args.name, args.snapshot)
    log.info(f"'{args.name}' is back to snapshot '{chosen}'")
    return 0


def images(args: Args, command: Command) -> int:
    from armroot.commands import images as images_cmd

    found = images_cmd.list_images(refresh=args.refresh)
    render.images(found.entries, args.json)
    for problem in found.problems:
        log.warn(problem)
    return 0


def cache(args: Args, command: Command) -> int:
    """`cache list` and `cache clean`."""
    from armroot.commands import images as images_cmd

    if args.action == "clean":
        freed = images_cmd.cache_clean()
        log.info(f"removed {render.human_size(freed)} of cached downloads, bootstraps and compiles")
        return 0
    items, partials, bootstraps = images_cmd.cache_list()
    render.cache(items, partials, bootstraps, args.json)
    return 0


def export(args: Args, command: Command) -> int:
    from pathlib import Path

    from armroot.commands import images as images_cmd

    target = images_cmd.export(args.name, Path(args.tar))
    log.info(f"exported '{args.name}' to {target}")
    return 0


def list_envs(args: Args, command: Command) -> int:
    """`list`."""
    from armroot.commands import manage

    render.envs(manage.list_envs(), args.json)
    return 0


def info(args: Args, command: Command) -> int:
    from armroot.commands import manage

    render.env(manage.info(args.name), args.json)
    return 0


def remove(args: Args, command: Command) -> int:
    """`rm`."""
    from armroot.commands import manage

    manage.remove(args.name)
    log.info(f"removed '{args.name}'")
    return 0


def vm(args: Args, command: Command) -> int:
    from armroot.commands import vm as vm_cmd

    argv = tuple(command if command is not None else args.command or [])
    booted = vm_cmd.vm(
        vm_cmd.VmOptions(
            args.name,
            argv,
            args.mem,
            args.cpus,
            args.persist,
            args.install_kernel,
            args.host_ca,
            args.workdir,
        )
    )
    return booted.exit_code


def doctor(args: Args, command: Command) -> int:
    from armroot.commands import doctor as doctor_cmd

    report = doctor_cmd.doctor(
        apply_fix=args.fix, env=args.https_env, url=args.url or doctor_cmd.HTTPS_URL
    )
    render.doctor(report, args.json)
    return 0 if report.ok else 1


def helper(args: Args, command: Command) -> int:
    """`helper serve` and `helper check HOST`."""
    from armroot.distribute import helper as helper_mod
    from armroot.distribute import hosts
    from armroot.errors import UsageError

    if args.action == "serve":
        if args.host:
            raise UsageError("helper serve takes no HOST", "use --listen ADDRESS to choose one")
        if args.accel != "auto":
            raise UsageError("--accel is for helper check --env", "serve takes --env NAME")
        return helper_mod.serve(
            tuple(args.allow), args.listen, args.port, args.jobs, tuple(args.env)
        )
    if not args.host:
        raise UsageError("helper check needs the helper's address", "armroot helper check HOST")
    if args.allow or args.listen or args.jobs or args.port != hosts.DEFAULT_PORT:
        raise UsageError(
            "--allow, --listen, --jobs and --port are for helper serve",
            "give the helper's port in its address: armroot helper check HOST:PORT",
        )
    if len(args.env) > 1:
        raise UsageError("helper check takes one --env", "check one env's compilers at a time")
    host = hosts.parse(args.host)
    compiler = helper_mod.local_compiler()
    if args.env:
        from armroot.accel import setup
        from armroot.distribute import client
        from armroot.store.envs import Store

        env = Store().get(args.env[0])
        probes = client.probes(env, setup.resolve(env, args.accel))
        if not probes:
            raise UsageError(
                f"'{env.name}': its twin compilers cannot be distributed (no cc1 or "
                "assembler twin)",
                "check with --accel clang",
            )
    else:
        if args.accel != "auto":
            raise UsageError("--accel is for helper check --env", "give the env: --env NAME")
        probes = (helper_mod.clang_probe(compiler),)
    found = helper_mod.check(host, probes, compiler)
    print(found.line(", ".join(p.name for p in probes)))
    return 0 if found.has_compiler else 1
