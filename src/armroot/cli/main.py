"""The `armroot` command line: parse arguments, call the library, render results, exit."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from armroot import __version__, log
from armroot.cli.plain import parse as quick_parse
from armroot.cli.plain import split_command
from armroot.errors import ArmrootError

if TYPE_CHECKING:
    import argparse

    from armroot.commands.manage import EnvStatus


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


class _Skipped:
    """Stands in for the subparser of a verb not being parsed (building them all costs)."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs


VERBS = (
    "create",
    "run",
    "shell",
    "install",
    "upgrade",
    "build",
    "init",
    "boards",
    "snapshot",
    "reset",
    "images",
    "cache",
    "export",
    "list",
    "info",
    "rm",
    "doctor",
    "vm",
)


NO_ACCEL_HELP = "use the root's own (emulated) compilers, not the native ones"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that verb's subparser is built."""
    import argparse  # ~20 ms with its parsers: `run` in its plain forms goes without it

    common = argparse.ArgumentParser(add_help=False)
    # Accepted before and after the verb; the verb's copy must not reset what came before.
    sub_common = argparse.ArgumentParser(add_help=False)
    for parser_, default in ((common, False), (sub_common, argparse.SUPPRESS)):
        parser_.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=default,
            help="show every external command",
        )
        parser_.add_argument(
            "-q", "--quiet", action="store_true", default=default, help="show only errors"
        )

    parser = argparse.ArgumentParser(
        prog="armroot",
        description="Run a Raspberry Pi's own Linux distribution on x86_64 under QEMU, safely.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"armroot {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    def add(name: str, help: str) -> Any:
        if only is not None and name != only:
            return _Skipped()
        return sub.add_parser(name, parents=[sub_common], help=help)

    p = add("create", help="create an environment")
    p.add_argument("name")
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="debian:SUITE, an id from `armroot images`, a URL, or a tarball/.img/.img.xz/.zip "
        "file (default: debian:trixie, or the board's default image)",
    )
    p.add_argument("--board", help="the Pi this env builds for (see `armroot boards`)")
    p.add_argument("--sha256", help="the sha256 a downloaded file must have")
    p.add_argument(
        "--no-verify", action="store_true", help="accept a download no checksum is known for"
    )
    p.add_argument("--arch", help="armel, armhf or arm64 (Debian default: arm64)")
    p.add_argument("--include", type=_csv, default=(), help="extra packages, comma-separated")
    p.add_argument(
        "--minimal", action="store_true", help="no build tools (only what --include names)"
    )
    p.add_argument("--mirror", help="Debian mirror URL")

    for verb, helptext in (
        ("run", "run a command in an environment"),
        ("shell", "open a shell in an environment"),
    ):
        p = add(verb, help=helptext)
        p.add_argument("name")
        p.add_argument(
            "--bind",
            action="append",
            default=[],
            metavar="SRC[:DST]",
            help="bind a host path into the root (repeatable)",
        )
        p.add_argument("--workdir", help="working directory inside the root")
        p.add_argument(
            "--env",
            action="append",
            default=[],
            metavar="K=V",
            help="set an environment variable (repeatable)",
        )
        p.add_argument(
            "--host-ca",
            action="store_true",
            help="trust the host's CA bundle inside (TLS-intercepting networks)",
        )
        p.add_argument("--no-accel", action="store_true", help=NO_ACCEL_HELP)
        if verb == "run":
            p.add_argument("command", nargs="*", help="the command (put it after --)")

    p = add("install", help="install packages (root's own manager)")
    p.add_argument("name")
    p.add_argument("packages", nargs="+")
    p.add_argument("--host-ca", action="store_true", help="trust the host's CA bundle inside")
    p = add("upgrade", help="upgrade every package in an env")
    p.add_argument("name")
    p.add_argument("--host-ca", action="store_true", help="trust the host's CA bundle inside")
    p = add("build", help="build a project for the env's board")
    p.add_argument("name", nargs="?", help="the env (default: [env] name in armroot.toml)")
    p.add_argument("--src", default=".", help="the project directory (default: .)")
    p.add_argument("--out", help="where artifacts go (default: SRC/armroot-out)")
    p.add_argument(
        "--ephemeral",
        action="store_true",
        help="build on a throwaway overlay: the env stays unchanged",
    )
    p.add_argument("--host-ca", action="store_true", help="trust the host's CA bundle inside")
    p.add_argument("--no-accel", action="store_true", help=NO_ACCEL_HELP)
    p = add("init", help="write a starter armroot.toml")
    p.add_argument("--dir", default=".", help="the project directory (default: .)")
    p = add("boards", help="list the Raspberry Pi boards")
    p.add_argument("--json", action="store_true")
    p = add("snapshot", help="save a copy of an env's root")
    p.add_argument("name")
    p.add_argument("snapshot")
    p = add("reset", help="put an env back to a snapshot")
    p.add_argument("name")
    p.add_argument("snapshot", nargs="?", help="default: the newest")

    p = add("images", help="list the image catalogue")
    p.add_argument("--json", action="store_true")
    p = add("cache", help="list or clean downloaded images")
    p.add_argument("action", choices=["list", "clean"])
    p.add_argument("--json", action="store_true")
    p = add("export", help="pack an environment into a tarball")
    p.add_argument("name")
    p.add_argument(
        "--tar", required=True, metavar="FILE", help="output .tar, .tar.gz, .tar.xz or .tar.zst"
    )

    p = add("list", help="list environments")
    p.add_argument("--json", action="store_true")
    p = add("info", help="show one environment")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = add("rm", help="remove an environment")
    p.add_argument("name")
    p = add("vm", help="boot an env with its own kernel under qemu-system")
    p.add_argument("name")
    p.add_argument("--mem", help="the VM's memory: 1024, 512M, 2G (default: 1G)")
    p.add_argument("--cpus", type=int, help="virtual CPUs, 1-8 (default: up to 4)")
    p.add_argument(
        "--persist", action="store_true", help="keep what the VM changed (default: thrown away)"
    )
    p.add_argument(
        "--install-kernel",
        action="store_true",
        help="install the distribution's kernel for the virt board if the root has none, "
        "and make its initramfs carry the virt board's drivers",
    )
    p.add_argument(
        "--host-ca",
        action="store_true",
        help="trust the host's CA bundle in the VM and for --install-kernel's download",
    )
    p.add_argument("--workdir", default="/root", help="where the command starts (default /root)")
    p.add_argument("command", nargs="*", help="run it once, then power off (put it after --)")
    p = add("doctor", help="check (and --fix) the host")
    p.add_argument("--fix", action="store_true", help="mount binfmt_misc, register QEMU (root)")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--env", dest="https_env", metavar="NAME", help="also check HTTPS inside this env"
    )
    p.add_argument("--url", default=None, help="the https URL --env fetches")
    return parser


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _status_dict(s: EnvStatus) -> dict[str, Any]:
    data = s.meta._asdict()
    data.update(path=s.path, in_use=s.in_use)
    return data


def _dispatch(args: argparse.Namespace | SimpleNamespace, command: list[str] | None) -> int:
    verb = args.verb
    # Each verb imports only what it needs, so `armroot run` starts quickly.
    if verb == "create":
        from armroot.commands import create as create_cmd

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
            )
        )
        log.info(
            f"created '{env.name}': {env.meta.os_name or env.meta.source}, "
            f"{env.meta.arch}, {_human_size(env.meta.size_bytes)}"
        )
        return 0
    if verb in ("run", "shell"):
        from armroot.cli.launch import session_verb

        return session_verb(args, command)
    if verb in ("images", "cache", "export"):
        return _images_verbs(args)
    if verb == "vm":
        from armroot.commands import vm

        argv = tuple(command if command is not None else args.command or [])
        booted = vm.vm(
            vm.VmOptions(
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
    if verb in ("install", "upgrade", "build", "init", "boards", "snapshot", "reset"):
        return _build_verbs(args, command)
    from armroot.commands import manage

    if verb == "list":
        envs = manage.list_envs()
        if args.json:
            _print_json([_status_dict(s) for s in envs])
        elif not envs:
            log.info("no environments yet; create one with `armroot create NAME`")
        else:
            for s in envs:
                used = "  (in use)" if s.in_use else ""
                print(
                    f"{s.meta.name:<16} {s.meta.arch:<6} {_human_size(s.meta.size_bytes):>10}  "
                    f"{s.meta.os_name or s.meta.source}{used}"
                )
        return 0
    if verb == "info":
        s = manage.info(args.name)
        if args.json:
            _print_json(_status_dict(s))
        else:
            for key, value in _status_dict(s).items():
                if key == "size_bytes":
                    value = _human_size(int(value))
                if key == "gcc_target" and isinstance(value, dict):
                    key = "native target"
                    value = value.get("problem") or " ".join(
                        [str(value.get("triple")), *map(str, value.get("flags") or ())]
                    )
                if value not in (None, {}, ""):
                    print(f"{key + ':':<16} {value}")
        return 0
    if verb == "rm":
        manage.remove(args.name)
        log.info(f"removed '{args.name}'")
        return 0
    if verb == "doctor":
        from armroot.commands import doctor as doctor_cmd

        report = doctor_cmd.doctor(
            apply_fix=args.fix, env=args.https_env, url=args.url or doctor_cmd.HTTPS_URL
        )
        if args.json:
            import dataclasses

            _print_json(dataclasses.asdict(report) | {"ok": report.ok})
        else:
            for line in report.fixed:
                print(f"fixed: {line}")
            for c in report.checks:
                mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[c.status]
                print(
                    f"[{mark}] {c.name}: {c.detail}" + (f"\n       fix: {c.fix}" if c.fix else "")
                )
        return 0 if report.ok else 1
    raise AssertionError(verb)


def _images_verbs(args: argparse.Namespace | SimpleNamespace) -> int:
    from pathlib import Path

    from armroot.commands import images as images_cmd

    if args.verb == "images":
        entries = images_cmd.list_images()
        if args.json:
            _print_json(
                [e._asdict() | {"verification": e.describe_verification()} for e in entries]
            )
            return 0
        for e in entries:
            size = _human_size(e.size) if e.size else "-"
            print(f"{e.id:<26} {e.arch:<6} {size:>10}  {e.title}")
            print(f"{'':<26} boards: {', '.join(e.boards)}")
            print(f"{'':<26} verified by: {e.describe_verification()}")
        return 0
    if args.verb == "cache":
        if args.action == "clean":
            freed = images_cmd.cache_clean()
            log.info(f"removed {_human_size(freed)} of cached downloads")
            return 0
        items, partials = images_cmd.cache_list()
        if args.json:
            _print_json(
                {"downloads": [i._asdict() for i in items], "partial": [str(p) for p in partials]}
            )
            return 0
        for item in items:
            print(f"{item.sha256[:16]}  {_human_size(item.size):>10}  {item.name}")
        for partial in partials:
            print(f"{'(partial)':<16}  {_human_size(partial.stat().st_size):>10}  {partial.name}")
        if not items and not partials:
            log.info("the download cache is empty")
        return 0
    target = images_cmd.export(args.name, Path(args.tar))
    log.info(f"exported '{args.name}' to {target}")
    return 0


def _build_verbs(args: argparse.Namespace | SimpleNamespace, command: list[str] | None) -> int:
    from pathlib import Path

    if args.verb == "boards":
        from armroot.rootfs import boards

        if args.json:
            _print_json([b._asdict() | {"cpu_level": b.cpu_level.value} for b in boards.BOARDS])
            return 0
        for b in boards.BOARDS:
            bits = "32/64-bit" if b.qemu_cpu_64 else "32-bit"
            print(f"{b.name:<10} ARM{b.cpu_level.value:<5} {bits:<9}  {b.title}")
        return 0
    if args.verb in ("install", "upgrade"):
        from armroot.commands import packages

        if args.verb == "install":
            done = packages.install(args.name, tuple(args.packages), args.host_ca)
            log.info(f"installed with {done.manager}: {', '.join(done.installed)}")
        else:
            done = packages.upgrade(args.name, args.host_ca)
            log.info(f"upgraded '{args.name}' with {done.manager}")
        return 0
    if args.verb in ("snapshot", "reset"):
        from armroot.commands import snapshot

        if args.verb == "snapshot":
            snapshot.snapshot(args.name, args.snapshot)
            log.info(f"saved '{args.name}' as snapshot '{args.snapshot}'")
        else:
            chosen = snapshot.reset(args.name, args.snapshot)
            log.info(f"'{args.name}' is back to snapshot '{chosen}'")
        return 0
    from armroot.commands import build as build_cmd

    if args.verb == "init":
        path = build_cmd.init(Path(args.dir))
        log.info(f"wrote {path}")
        return 0
    result = build_cmd.build(
        build_cmd.BuildOptions(
            args.name,
            Path(args.src),
            Path(args.out) if args.out else None,
            args.ephemeral,
            tuple(command or ()),
            args.host_ca,
            accel=not args.no_accel,
        )
    )
    for artifact in result.artifacts:
        print(artifact)
    log.info(f"built in '{result.env}' ({result.system}); {len(result.artifacts)} artifact(s)")
    return 0


def entry() -> None:
    """The console script: main(), then exit without Python's slow interpreter teardown
    (everything armroot opened is closed by then; output is flushed first)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _terminate(signum: int, frame: object) -> None:
    del frame
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    before, command = split_command(raw)
    args: argparse.Namespace | SimpleNamespace | None = quick_parse(before, command)
    if args is None:
        verb = next((a for a in before if not a.startswith("-")), None)
        parser = build_parser(verb if verb in VERBS else None)
        args = parser.parse_args(before)
        if command is not None and args.verb not in ("run", "build", "vm"):
            parser.error(f"'{args.verb}' takes no command after --")
    if args.verbose:
        log.VERBOSITY.set(log.Verbosity.VERBOSE)
    elif args.quiet:
        log.VERBOSITY.set(log.Verbosity.QUIET)
    # SIGTERM and SIGHUP unwind like ^C does, so staging directories are removed.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return _dispatch(args, command)
    except ArmrootError as exc:
        log.error(exc.one_line())
        return exc.exit_code
    except KeyboardInterrupt:
        log.console().print("armroot: interrupted", markup=False)
        return 130
