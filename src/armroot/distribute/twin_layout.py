"""A helper's copy of the twin compilers it serves (armroot.twins.distributed): the
drivers, cc1, cc1plus, as, the twins' loader and libraries, linked (or copied) from the
twin cache into the helper's own directory, which distccd's unprivileged user can reach when
the cache is private; and the scripts distccd runs. The one place that writes them."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from armroot.twins import distributed as twin_compilers
from armroot.twins import table
from armroot.twins.distributed import HelperPaths, TwinCompiler
from armroot.twins.prepare import TwinSet


def _place(source: Path, target: Path, cache: Path) -> None:
    """``source`` (a file of the twin cache) at ``target``: a hard link when every user may
    read it, else a copy that they may. A link leading out of the cache is refused."""
    target.parent.mkdir(parents=True, exist_ok=True)
    real = source.resolve(strict=True)
    if not real.is_relative_to(cache.resolve()):
        raise OSError(f"{source} leads out of the twin cache")
    mode = real.stat().st_mode
    need = 0o005 if mode & stat.S_IXUSR else 0o004
    if mode & need == need:
        try:
            os.link(real, target)
            return
        except OSError:
            pass
    shutil.copyfile(real, target)
    os.chmod(target, 0o755 if mode & stat.S_IXUSR else 0o644)


def lay_out(
    directory: Path, twin_set: TwinSet, compilers: tuple[TwinCompiler, ...], cache: Path
) -> tuple[str, ...]:
    """Write ``compilers`` of ``twin_set`` (whose files are in the twin cache ``cache``)
    under ``directory``; the programs distccd's command list names."""
    twins = directory / "twins"
    needed = {twin_set.loader}
    for compiler in compilers:
        needed.update(twin_compilers.files(compiler))
    for rel in sorted(needed):
        _place(cache / rel, twins / rel, cache)
    libdir = twins / twin_set.libdir
    libdir.mkdir(parents=True, exist_ok=True)
    for entry in sorted((cache / twin_set.libdir).iterdir()):
        if entry.is_file() and not (libdir / entry.name).exists():
            _place(entry, libdir / entry.name, cache)
    nowhere = directory / "nowhere"
    nowhere.mkdir(exist_ok=True)
    entries = []
    for compiler in compilers:
        specs = directory / f"{compiler.name}.specs"
        specs.write_text(table.driver_specs(compiler.triple, compiler.major, compiler.offload))
        tools = directory / f"{compiler.name}.tools"
        tools.mkdir()
        at = HelperPaths(
            str(twins), str(twins / twin_set.loader), str(libdir), str(specs), str(nowhere)
        )
        for name, text in twin_compilers.scripts(compiler, at, str(tools)).items():
            path = Path(name) if name.startswith("/") else directory / "bin" / name
            path.write_text(text)
            os.chmod(path, 0o755)
        os.chmod(specs, 0o644)
        entries.append(str(directory / "bin" / compiler.name))
    for path in (twins, *twins.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o755)
    for path in (nowhere, *(directory / f"{c.name}.tools" for c in compilers)):
        os.chmod(path, 0o755)
    return tuple(entries)
