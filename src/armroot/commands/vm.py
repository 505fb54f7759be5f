"""`armroot vm ENV [-- CMD...]`: boot the env's root with its own kernel under qemu-system.

The orchestration: options checked, the kernel found (or installed, and its initramfs given
the virt board's drivers, in sessions), the disk made, QEMU run (armroot.vm.qemu), and with
--persist the disk put back as the env's root."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import NamedTuple

from armroot import log
from armroot.errors import ExternalCommandError, HostError, UsageError
from armroot.host import packages as hostpkg
from armroot.host import privileges, programs
from armroot.rootfs import arch as archmod
from armroot.rootfs import boards
from armroot.session.inputs import host_ca_bundle
from armroot.store.envs import Env, Store
from armroot.vm import disk, kernel, machine, qemu
from armroot.vm.qemu import BOOT_TIMEOUT
from armroot.vm.qemu import VmResult as VmResult

DEFAULT_CPUS = 4


class VmOptions(NamedTuple):
    name: str
    argv: tuple[str, ...] = ()  # empty: an interactive console
    mem: str | None = None
    cpus: int | None = None
    persist: bool = False
    install_kernel: bool = False
    host_ca: bool = False  # for --install-kernel's download
    workdir: str = "/root"
    boot_timeout: float = BOOT_TIMEOUT


def _host_available_mb() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _find_or_install_kernel(env: Env, options: VmOptions, store: Store) -> machine.Kernel:
    found = kernel.find(env)
    if options.install_kernel:
        package = kernel.package(env) if found is None else None
        hook_added = _add_initramfs_hook(env)
        if package is not None:
            from armroot.commands.packages import install

            with log.step(f"Installing {package} into '{env.name}' (a kernel for the VM)"):
                install(env.name, (package,), host_ca=options.host_ca, store=store)
            found = kernel.find(env)
        elif hook_added and found is not None and found.initrd is not None:
            version = found.version
            with log.step(f"Rebuilding the initramfs of {version} in '{env.name}'"):
                _in_env(env, kernel.rebuild_script(found), "update-initramfs")
    if found is None:
        raise kernel.no_kernel(env)
    return found


def _in_env(env: Env, script: str, purpose: str) -> None:
    from armroot.session.request import Request
    from armroot.session.run import run

    argv = ("sh", "-ec", script)
    result = run(Request(env.name, argv, exclusive_for=purpose, accel="none"))
    if result.exit_code != 0:
        raise ExternalCommandError(
            f"{purpose} failed in '{env.name}' with exit status {result.exit_code}",
            "see its output above",
        )


def _add_initramfs_hook(env: Env) -> bool:
    """Debian roots: armroot's initramfs-tools hook, written inside the env. True if new."""
    if not kernel.hook_needed(env):
        return False
    with log.step(f"Adding the virt board's drivers to the initramfs of '{env.name}'"):
        _in_env(env, kernel.hook_script(), "writing the initramfs hook")
    return True


def prepare(options: VmOptions, store: Store) -> tuple[Env, machine.VmSpec, str]:
    """Check everything that can be checked before a byte is written: env, QEMU, memory,
    CPUs, workdir, /dev/fuse for --persist. Returns the env, the VM (kernel, disk and
    command line still to fill) and QEMU's path."""
    env = store.get(options.name)
    arch = archmod.by_name(env.meta.arch)
    program = machine.qemu_program(arch)
    try:
        program_path = programs.require_program(program)
    except HostError:
        raise HostError(
            f"`{program}` was not found on this machine: `armroot vm` boots the env with it",
            hostpkg.QEMU_SYSTEM.install_hint(),
        ) from None
    mem_mb = machine.parse_mem(options.mem) if options.mem else machine.DEFAULT_MEM_MB
    machine.check_mem(mem_mb, arch, _host_available_mb())
    cpus = options.cpus if options.cpus is not None else min(DEFAULT_CPUS, os.cpu_count() or 1)
    machine.check_cpus(cpus)
    if not options.workdir.startswith("/"):
        raise UsageError(
            f"--workdir {options.workdir!r} must be an absolute path inside the root",
            "for example --workdir /src",
        )
    if options.persist:
        from armroot.images.diskimage import check_fuse

        check_fuse()  # --persist reads the disk back with fuse2fs: know now, not after
    board = boards.by_name(env.meta.board) if env.meta.board else None
    cpu = machine.vm_cpu(
        arch, board.qemu_cpu_32 if board else None, board.qemu_cpu_64 if board else None
    )
    spec = machine.VmSpec(
        arch=arch.name,
        cpu=cpu,
        mem_mb=mem_mb,
        cpus=cpus,
        kernel="",
        initrd=None,
        disk="",
        append="",
        interactive=not options.argv,
    )
    return env, spec, program_path


def vm(options: VmOptions, store: Store | None = None) -> VmResult:
    """Boot the env; with a command, run it once and return its exit status."""
    store = store or Store()
    env, spec, program = prepare(options, store)
    boot = _find_or_install_kernel(env, options, store)
    if boot.initrd is None:
        log.warn(
            f"{boot.image} has no initramfs beside it: booting the kernel alone "
            "(it needs virtio-blk and ext4 built in)"
        )
    interactive = not options.argv
    systemd = kernel.systemd(env) if interactive else None
    nonce = secrets.token_hex(8)
    lock = (
        store.exclusive_lock(env, "boot with --persist")
        if options.persist
        else store.session_lock(env)
    )
    with lock, store.scratch(f"vm-{env.name}") as work:
        image = work / "disk.img"
        disk.make_image(env.rootfs, image)
        files: dict[str, tuple[str, int]] = {}
        dirs: list[str] = []
        init = None
        if systemd is not None:
            init = systemd or None
            files[disk.AUTOLOGIN] = (disk.AUTOLOGIN_TEXT, 0o644)
            dirs = kernel.missing_dirs(env, disk.AUTOLOGIN)
            if options.host_ca:
                log.warn("--host-ca applies to a command or a root without systemd, not here")
        else:
            dirs, init = [disk.INIT_DIR], disk.INIT
            if options.host_ca:
                files[disk.HOST_CA] = (Path(host_ca_bundle()).read_text(), 0o644)
            script = machine.init_script(
                options.argv or ("/bin/sh", "-l"),
                options.workdir,
                nonce,
                os.environ.get("TERM", "dumb"),
                interactive,
                disk.HOST_CA if options.host_ca else None,
            )
            files[disk.INIT] = (script, 0o755)
        disk.add_files(image, files, dirs, work)
        spec = spec._replace(
            kernel=kernel.host_path(env, boot.image),
            initrd=kernel.host_path(env, boot.initrd) if boot.initrd else None,
            disk=str(image),
            append=machine.kernel_append(
                interactive, init, boot.initrd is not None and kernel.has_hook(env)
            ),
        )
        argv = machine.qemu_argv(spec, program)
        log.debug("+ " + " ".join(argv))
        what = (
            f"'{env.name}' ({os.path.basename(program)}, {spec.cpu}, {spec.cpus} CPUs, "
            f"{spec.mem_mb}M, kernel {boot.version or boot.image})"
        )
        if interactive:
            result = qemu.interactive(argv, what)
        else:
            result = qemu.command(argv, what, nonce, options.boot_timeout, env.name)
        if options.persist:
            _persist(env, store, image, files, dirs, work)
    return result


def _persist(
    env: Env,
    store: Store,
    image: Path,
    files: dict[str, tuple[str, int]],
    dirs: list[str],
    work: Path,
) -> None:
    """Put what the VM changed into the env: its disk, less armroot's files, becomes the
    env's root (copied out, then swapped in as `reset` does)."""
    disk.remove_files(image, list(files), dirs, work)
    fresh = work / "rootfs.new"
    fresh.mkdir()
    disk.copy_back(image, fresh, work, devices=privileges.is_host_root())
    if not os.path.lexists(env.rootfs / "lost+found"):
        with contextlib.suppress(OSError):  # mke2fs made it; kept if e2fsck put files in it
            (fresh / "lost+found").rmdir()
    store.replace_rootfs(env, fresh)
    log.info(f"    kept the VM's changes in '{env.name}'")
