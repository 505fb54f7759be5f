"""`armroot create`: make an environment from a Debian suite or a root filesystem tarball."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from armroot import __version__, emulation, log, run
from armroot import arch as archmod
from armroot.arch import Arch
from armroot.errors import SourceError
from armroot.images import debian, tarball
from armroot.images import source as sourcemod
from armroot.rootinfo import RootInfo, inspect
from armroot.store import Env, EnvMeta, Store, check_name, dir_size


@dataclass(frozen=True)
class CreateOptions:
    name: str
    source: str = sourcemod.DEFAULT_SOURCE
    arch: str | None = None
    include: tuple[str, ...] = ()  # added to the default set (or to none with minimal)
    minimal: bool = False
    mirror: str | None = None


def create(options: CreateOptions, store: Store | None = None) -> Env:
    """Create an environment atomically: nothing is registered unless everything worked."""
    store = store or Store()
    check_name(options.name)
    src = sourcemod.parse(options.source)
    wanted = archmod.by_name(options.arch) if options.arch else None
    if isinstance(src, sourcemod.DebianSource):
        arch = wanted or archmod.ARM64
        run.require_program("mmdebstrap")
        emulation.qemu_binds(arch)  # mmdebstrap runs the root's maintainer scripts under QEMU
        base = () if options.minimal else debian.DEFAULT_INCLUDE
        include = tuple(dict.fromkeys(base + options.include))
        plan = debian.DebianBootstrap(
            src.suite, arch, options.mirror or sourcemod.DEFAULT_MIRROR, include
        )
    with store.staging(options.name) as staging:
        rootfs = staging / "rootfs"
        if isinstance(src, sourcemod.DebianSource):
            with log.step(f"Bootstrapping Debian {src.suite} {arch.name} with mmdebstrap"):
                debian.bootstrap(plan, rootfs)
        else:
            rootfs.mkdir(mode=0o755)
            with log.step(f"Extracting {src.path.name}"):
                report = tarball.extract(src.path, rootfs)
                log.info(f"    {report.entries} entries, {report.bytes_written / 2**20:.0f} MiB")
        info = inspect(rootfs, src.describe())
        _check_arch(info, wanted, src.describe())
        emu = archmod.default_emulation(info.arch, info.cpu_level)
        meta = EnvMeta(
            name=options.name,
            arch=info.arch.name,
            source=src.describe(),
            created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            cpu_level=info.cpu_level.value if info.cpu_level else None,
            qemu_cpu=emu.qemu_cpu,
            uname_machine=emu.uname_machine,
            os_name=info.os_name,
            size_bytes=dir_size(rootfs),
            armroot_version=__version__,
        )
        return store.commit(staging, meta)


def _check_arch(info: RootInfo, wanted: Arch | None, label: str) -> None:
    if wanted is not None and info.arch != wanted:
        raise SourceError(
            f"{label} is an {info.arch.name} root, not {wanted.name} as asked",
            f"use --arch {info.arch.name}, or give a {wanted.name} root",
        )
