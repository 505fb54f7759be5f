"""armroot.toml: what a project needs to build for its board. Parsing is pure."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from armroot.errors import UsageError
from armroot.session.request import ACCEL_MODES

FILENAME = "armroot.toml"

STARTER = """\
# armroot.toml: how `armroot build` builds this project for a Raspberry Pi.
# Every key is optional; `armroot build` with no file detects the build system.

[env]
# The armroot environment to build in; created on first build if it does not exist.
name = "pi"
# Where a new environment comes from (see `armroot images`): debian:trixie, raspios:lite-armhf,
# archlinuxarm:rpi-aarch64, a URL or a file.
# image = "debian:trixie"
# The board the binaries are for (see `armroot boards`): pi-zero, pi3, pi4, pi5, ...
board = "pi4"
# Packages the build needs, installed with the root's own package manager when missing.
packages = []

[build]
# cmake, meson, autotools, make, or custom (then `configure` and `build` are required).
# system = "cmake"
# configure = ["cmake", "-S", ".", "-B", "/build", "-DCMAKE_BUILD_TYPE=Release"]
# build = ["cmake", "--build", "/build", "-j4"]
# Files to copy to --out after a successful build, relative to the build dir (/build) or,
# when they start with "src:", to the source dir. Globs are allowed.
artifacts = []
# A command run under the board's exact CPU model after the build (artifacts are checked
# for the board's architecture and float ABI either way).
# smoke = ["/build/hello", "--version"]
# How the compilers and build tools run (--accel): twins (the root's own, native where the
# archive has their amd64 build), clang, none (all emulated), auto (the default).
# accel = "twins"

[distribute]
# armroot helpers (`armroot helper serve` on other x86_64 machines) that take this build's
# compiles: HOST[:PORT][/JOBS]. --distribute replaces them; DISTCC_HOSTS is used without either.
# hosts = ["192.168.1.20", "192.168.1.21:3632/8"]
"""

SYSTEMS = ("auto", "cmake", "meson", "autotools", "make", "custom")


class ProjectConfig(NamedTuple):
    env: str | None = None
    image: str | None = None
    board: str | None = None
    packages: tuple[str, ...] = ()
    system: str = "auto"
    configure: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    smoke: tuple[str, ...] = ()
    accel: str | None = None  # how compilers and build tools run (--accel)
    distribute: tuple[str, ...] = ()  # helpers that take the compiles ([distribute] hosts)


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: '{key}' must be a list of strings", f'e.g. {key} = ["..."]')
    return tuple(value)


def _string(table: dict[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{where}: '{key}' must be a string", f'e.g. {key} = "..."')
    return value


def parse(text: str, where: str = FILENAME) -> ProjectConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where} is not valid TOML ({exc})", "fix the line it names") from exc
    except RecursionError as exc:  # tomllib recurses into nested arrays and inline tables
        raise UsageError(f"{where} nests arrays or tables too deeply", "flatten it") from exc
    unknown = set(data) - {"env", "build", "distribute"}
    if unknown:
        raise UsageError(
            f"{where}: unknown section [{sorted(unknown)[0]}]",
            "armroot.toml has [env], [build] and [distribute]",
        )
    env = data.get("env", {})
    build = data.get("build", {})
    distribute = data.get("distribute", {})
    if not all(isinstance(t, dict) for t in (env, build, distribute)):
        raise UsageError(
            f"{where}: [env], [build] and [distribute] must be tables", "see `armroot init`"
        )
    for table, known, name in (
        (env, {"name", "image", "board", "packages"}, "env"),
        (build, {"system", "configure", "build", "artifacts", "smoke", "accel"}, "build"),
        (distribute, {"hosts"}, "distribute"),
    ):
        extra = set(table) - known
        if extra:
            raise UsageError(
                f"{where}: unknown key '{sorted(extra)[0]}' in [{name}]",
                f"[{name}] takes {', '.join(sorted(known))}",
            )
    system = _string(build, "system", where) or "auto"
    if system not in SYSTEMS:
        raise UsageError(
            f"{where}: unknown build system '{system}'", f"use one of {', '.join(SYSTEMS)}"
        )
    config = ProjectConfig(
        env=_string(env, "name", where),
        image=_string(env, "image", where),
        board=_string(env, "board", where),
        packages=_strings(env, "packages", where),
        system=system,
        configure=_strings(build, "configure", where),
        build=_strings(build, "build", where),
        artifacts=_strings(build, "artifacts", where),
        smoke=_strings(build, "smoke", where),
        accel=_string(build, "accel", where),
        distribute=_strings(distribute, "hosts", where),
    )
    if config.accel is not None and config.accel not in ACCEL_MODES:
        raise UsageError(
            f"{where}: unknown accel mode '{config.accel}'", f"use one of {', '.join(ACCEL_MODES)}"
        )
    if system == "custom" and not config.build:
        raise UsageError(
            f'{where}: system = "custom" needs a build command',
            'add build = ["make", "-j4"] (and configure if needed)',
        )
    return config


def load(source_dir: Path) -> ProjectConfig | None:
    path = source_dir / FILENAME
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text", "TOML files are UTF-8: save it so") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror})", "check its permissions") from exc
    return parse(text, str(path))
