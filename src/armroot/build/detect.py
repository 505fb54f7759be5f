"""Which build system a source tree uses, and the commands that configure and build it. Pure."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from armroot.errors import UsageError

BUILD_DIR = "/build"  # inside the root; a per-project directory in the store on the host


class BuildPlan(NamedTuple):
    system: str
    steps: tuple[tuple[str, ...], ...]  # each run inside the root, in the source dir


def detect(source_dir: Path) -> str:
    if (source_dir / "CMakeLists.txt").is_file():
        return "cmake"
    if (source_dir / "meson.build").is_file():
        return "meson"
    if (source_dir / "configure").is_file() or (source_dir / "configure.ac").is_file():
        return "autotools"
    if any((source_dir / n).is_file() for n in ("Makefile", "makefile", "GNUmakefile")):
        return "make"
    raise UsageError(
        f"no build system found in {source_dir} (no CMakeLists.txt, meson.build, configure or "
        "Makefile)",
        "add one, write [build] configure/build in armroot.toml, or give the command after --",
    )


def plan(
    system: str,
    source_dir: Path,
    configure: tuple[str, ...] = (),
    build: tuple[str, ...] = (),
    jobs: int | None = None,
) -> BuildPlan:
    """The steps for ``system``; ``configure``/``build`` from armroot.toml replace the
    defaults. ``jobs``: the default build's parallel jobs (else the session's cores, or
    ninja's own choice)."""
    src = str(source_dir)
    make_jobs = f"-j{jobs}" if jobs else "-j$(nproc)"
    ninja_jobs = ("-j", str(jobs)) if jobs else ()
    defaults: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "cmake": (
            ("cmake", "-S", src, "-B", BUILD_DIR, "-DCMAKE_BUILD_TYPE=Release"),
            ("sh", "-c", f"cmake --build {BUILD_DIR} -- {make_jobs}"),
        ),
        "meson": (
            (
                "sh",
                "-c",
                f"test -f {BUILD_DIR}/build.ninja || "
                f"meson setup {BUILD_DIR} {_q(src)} --buildtype=release",
            ),
            ("meson", "compile", "-C", BUILD_DIR, *ninja_jobs),
        ),
        "autotools": (
            (
                "sh",
                "-c",
                f"cd {_q(src)} && {{ test -x configure || autoreconf -fi; }} && "
                f"cd {BUILD_DIR} && {_q(src)}/configure",
            ),
            ("sh", "-c", f"make -C {BUILD_DIR} {make_jobs}"),
        ),
        "make": ((), ("sh", "-c", f"make -C {_q(src)} {make_jobs}")),
    }
    if system == "custom":
        steps = tuple(s for s in (configure, build) if s)
        return BuildPlan(system, steps)
    default_configure, default_build = defaults[system]
    steps = tuple(s for s in (configure or default_configure, build or default_build) if s)
    return BuildPlan(system, steps)


def _q(text: str) -> str:
    import shlex

    return shlex.quote(text)
