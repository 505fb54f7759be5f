"""`armroot vm ENV [-- CMD...]`: boot the env's root with its own kernel under qemu-system."""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from armroot import log, pkg
from armroot.errors import ArmrootError, ExternalCommandError, HostError, UsageError
from armroot.host import packages as hostpkg
from armroot.host import privileges, userns
from armroot.host import programs as run
from armroot.host.syscalls import set_pdeathsig
from armroot.rootfs import arch as archmod
from armroot.rootfs import boards
from armroot.rootfs.paths import resolve_in_root
from armroot.session.inputs import host_ca_bundle
from armroot.store.envs import Env, Store, safe_remove
from armroot.vm import disk, machine
from armroot.vm.console import ConsoleFilter

BOOT_TIMEOUT = 900.0  # seconds from QEMU's start to the command's start (TCG on a busy host)
DEFAULT_CPUS = 4
POWER_OFF_GRACE = 60.0  # seconds QEMU gets to power off once the command has ended


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


class VmResult(NamedTuple):
    exit_code: int
    boot_seconds: float  # QEMU start to the command's start (0 when interactive)
    total_seconds: float


class VmFailed(ArmrootError):
    """The VM stopped before the command ended, or never reached it."""


def _host_available_mb() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _kernel(env: Env) -> machine.Kernel | None:
    boot = resolve_in_root(env.rootfs, "/boot")
    if not boot.is_dir():
        return None
    return machine.find_kernel([p.name for p in boot.iterdir() if p.is_file()])


def _kernel_package(env: Env) -> str:
    manager = pkg.detect(env.rootfs).name
    packages = machine.KERNEL_PACKAGES.get((manager, env.meta.arch))
    if packages is None:
        raise UsageError(
            f"armroot does not know a kernel package of '{env.name}' ({manager}, "
            f"{env.meta.arch}) for QEMU's virt board",
            f"install one that supports it with `armroot install {env.name} PACKAGE`",
        )
    return packages


def _find_or_install_kernel(env: Env, options: VmOptions, store: Store) -> machine.Kernel:
    kernel = _kernel(env)
    if options.install_kernel:
        package = _kernel_package(env) if kernel is None else None
        hook_added = _add_initramfs_hook(env, store)
        if package is not None:
            from armroot.commands.packages import install

            with log.step(f"Installing {package} into '{env.name}' (a kernel for the VM)"):
                install(env.name, (package,), host_ca=options.host_ca, store=store)
            kernel = _kernel(env)
        elif hook_added and kernel is not None and kernel.initrd is not None:
            _rebuild_initramfs(env, store, kernel)
    if kernel is None:
        try:
            how = f"`armroot vm {env.name} --install-kernel` installs {_kernel_package(env)}"
        except UsageError:
            how = f"install a kernel for QEMU's virt board with `armroot install {env.name} ...`"
        raise UsageError(f"'{env.name}' has no kernel in /boot to boot", how)
    return kernel


def _in_env(env: Env, store: Store, script: str, purpose: str) -> None:
    from armroot.session.request import Request
    from armroot.session.run import run

    argv = ("sh", "-ec", script)
    result = run(Request(env.name, argv, exclusive_for=purpose, accel=False))
    if result.exit_code != 0:
        raise ExternalCommandError(
            f"{purpose} failed in '{env.name}' with exit status {result.exit_code}",
            "see its output above",
        )


def _add_initramfs_hook(env: Env, store: Store) -> bool:
    """Debian roots: armroot's initramfs-tools hook naming the virt board's drivers, written
    inside the env (a session: never through a link to the host). True if it was new."""
    if pkg.detect(env.rootfs).name != "apt":
        return False
    hook = resolve_in_root(env.rootfs, machine.INITRAMFS_HOOK)
    if hook.is_file() and hook.read_text(errors="replace") == machine.INITRAMFS_HOOK_TEXT:
        return False
    path = machine.INITRAMFS_HOOK
    script = (
        f"mkdir -p {shlex.quote(os.path.dirname(path))}\n"
        f"printf %s {shlex.quote(machine.INITRAMFS_HOOK_TEXT)} >{shlex.quote(path)}\n"
        f"chmod 0755 {shlex.quote(path)}\n"
    )
    with log.step(f"Adding the virt board's drivers to the initramfs of '{env.name}'"):
        _in_env(env, store, script, "writing the initramfs hook")
    return True


def _rebuild_initramfs(env: Env, store: Store, kernel: machine.Kernel) -> None:
    version = shlex.quote(kernel.version)
    with log.step(f"Rebuilding the initramfs of {kernel.version} in '{env.name}'"):
        _in_env(env, store, f"update-initramfs -u -k {version}", "update-initramfs")


def _host_path(env: Env, inside: str) -> str:
    path = resolve_in_root(env.rootfs, inside)
    if not path.is_file():
        raise UsageError(
            f"'{env.name}': {inside} is not a regular file",
            f"reinstall the kernel in '{env.name}'",
        )
    return str(path)


def _systemd(env: Env) -> str | None:
    """How to boot the root's systemd: "" for its /sbin/init, a path for init=, or None
    when it has no systemd (then armroot's init runs a shell on the console)."""
    init = resolve_in_root(env.rootfs, "/sbin/init")
    if init.is_file() and "systemd" in init.name:
        return ""
    for path in ("/usr/lib/systemd/systemd", "/lib/systemd/systemd"):
        if resolve_in_root(env.rootfs, path).is_file():
            return path
    return None


def prepare(options: VmOptions, store: Store) -> tuple[Env, machine.VmSpec, str]:
    """Check everything that can be checked before a byte is written: env, QEMU, memory,
    CPUs, workdir, /dev/fuse for --persist. Returns the env, the VM (kernel, disk and
    command line still to fill) and QEMU's path."""
    env = store.get(options.name)
    arch = archmod.by_name(env.meta.arch)
    program = machine.qemu_program(arch)
    try:
        program_path = run.require_program(program)
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
    userns.become_root()  # mke2fs must see the root's own owners (rootless: the namespace's)
    store = store or Store()
    env, spec, program = prepare(options, store)
    kernel = _find_or_install_kernel(env, options, store)
    if kernel.initrd is None:
        log.warn(
            f"{kernel.image} has no initramfs beside it: booting the kernel alone "
            "(it needs virtio-blk and ext4 built in)"
        )
    interactive = not options.argv
    systemd = _systemd(env) if interactive else None
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
            dirs = _missing_dirs(env, disk.AUTOLOGIN)
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
            kernel=_host_path(env, kernel.image),
            initrd=_host_path(env, kernel.initrd) if kernel.initrd else None,
            disk=str(image),
            append=machine.kernel_append(
                interactive,
                init,
                kernel.initrd is not None
                and resolve_in_root(env.rootfs, machine.INITRAMFS_HOOK).is_file(),
            ),
        )
        qemu = machine.qemu_argv(spec, program)
        log.debug("+ " + " ".join(qemu))
        what = (
            f"'{env.name}' ({os.path.basename(program)}, {spec.cpu}, {spec.cpus} CPUs, "
            f"{spec.mem_mb}M, kernel {kernel.version or kernel.image})"
        )
        if interactive:
            result = _interactive(qemu, what)
        else:
            result = _command(qemu, what, nonce, options.boot_timeout, env.name)
        if options.persist:
            _persist(env, store, image, files, dirs, work)
    return result


def _missing_dirs(env: Env, path: str) -> list[str]:
    """The directories above ``path`` the root does not have, outermost first."""
    missing: list[str] = []
    parent = os.path.dirname(path)
    while parent != "/" and not resolve_in_root(env.rootfs, parent).is_dir():
        missing.insert(0, parent)
        parent = os.path.dirname(parent)
    return missing


def _popen(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, preexec_fn=lambda: set_pdeathsig(), **kwargs)  # type: ignore[call-overload, no-any-return]


def _interactive(argv: list[str], what: str) -> VmResult:
    log.info(
        f"Booting {what}; the serial console follows "
        "(exit its shell to power off; Ctrl-A X stops QEMU)"
    )
    start = time.monotonic()
    proc = _popen(argv)
    try:
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if code != 0:
        raise VmFailed(f"qemu ended with {run.describe_status(code)}", "see its message above")
    return VmResult(0, 0.0, time.monotonic() - start)


def _command(argv: list[str], what: str, nonce: str, boot_timeout: float, name: str) -> VmResult:
    log.info(f"Booting {what}")
    console = ConsoleFilter(nonce)
    start = time.monotonic()
    booted = 0.0
    proc = _popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    ended = 0.0
    errors = b""
    streams = [proc.stdout.fileno(), proc.stderr.fileno()]
    try:
        while streams:
            now = time.monotonic()
            if console.status is not None:  # the command ended: QEMU has a minute to stop
                timeout: float | None = max(0.0, ended + POWER_OFF_GRACE - now)
            elif console.started:
                timeout = None  # the command takes as long as it takes
            else:
                timeout = max(0.0, start + boot_timeout - now)
            ready, _, _ = select.select(streams, [], [], timeout)
            if not ready and console.status is not None:
                log.warn("the VM did not power off after the command; stopped it")
                proc.kill()
                break
            if not ready:
                proc.kill()
                proc.wait()
                raise VmFailed(
                    f"the VM did not reach the command within {boot_timeout:.0f} s; "
                    f"its console ended with: {_last_line(console.boot_tail())}",
                    "run with --verbose for the whole boot log",
                )
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    streams.remove(fd)
                    continue
                if fd == proc.stderr.fileno():
                    errors += data
                    continue
                was_started = console.started
                shown = console.feed(data)
                if console.started and not was_started:
                    booted = time.monotonic() - start
                    log.debug(console.boot_tail(200))
                    log.info(f"    booted in {booted:.1f}s; running the command")
                if console.status is not None and not ended:
                    ended = time.monotonic()
                if shown:
                    _write(shown)
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    _write(console.flush())
    total = time.monotonic() - start
    if console.status is None:
        message = errors.decode("utf-8", "replace").strip().splitlines()
        if message:
            reason = f"qemu: {message[-1]}"
        elif console.started:
            reason = f"the VM stopped while the command ran ({run.describe_status(code)})"
        else:
            log.info(console.boot_tail())
            reason = f"the VM stopped during boot: {_last_line(console.boot_tail())}"
            if machine.NO_DISK_SIGN in console.boot_tail(200):
                raise VmFailed(
                    "the VM's kernel found no disk (/dev/vda): its initramfs has no driver "
                    "for the virt board's virtio disk",
                    f"`armroot vm {name} --install-kernel` adds them and rebuilds it",
                )
        raise VmFailed(reason, "run with --verbose for the whole boot log")
    return VmResult(console.status, booted, total)


def _write(data: bytes) -> None:
    """The command's output to stdout; a reader that went away (`| head`) is not an error
    of the VM's: the rest is dropped and the command still runs to its end."""
    if not data:
        return
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1].strip() if lines else "(nothing)"


def _persist(
    env: Env,
    store: Store,
    image: Path,
    files: dict[str, tuple[str, int]],
    dirs: list[str],
    work: Path,
) -> None:
    """Put what the VM changed into the env: its disk, less armroot's files, becomes the
    env's root (copied out, then two renames as `reset` does)."""
    disk.remove_files(image, list(files), dirs, work)
    fresh = work / "rootfs.new"
    fresh.mkdir()
    disk.copy_back(image, fresh, work, devices=privileges.is_host_root())
    if not os.path.lexists(env.rootfs / "lost+found"):
        with contextlib.suppress(OSError):  # mke2fs made it; kept if e2fsck put files in it
            (fresh / "lost+found").rmdir()
    store.trash_dir.mkdir(parents=True, exist_ok=True)
    old = store.trash_dir / f"{env.name}-rootfs.{os.urandom(4).hex()}"
    os.rename(env.rootfs, old)
    os.rename(fresh, env.rootfs)
    log.info(f"    kept the VM's changes in '{env.name}'")
    safe_remove(old)
