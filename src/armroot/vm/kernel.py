"""The env's kernel as `armroot vm` sees it, read from the env's files: which kernel and
initrd in /boot, which package installs one, whether armroot's initramfs hook is there and
current (and the script that writes it), the host paths QEMU boots, how to boot systemd.

Nothing here runs anything in the env: installing the package and running the hook script
or update-initramfs in a session is the command's (armroot.commands.vm).
"""

from __future__ import annotations

import os
import shlex

from armroot import pkg
from armroot.errors import UsageError
from armroot.rootfs.paths import resolve_in_root
from armroot.store.envs import Env
from armroot.vm import machine


def find(env: Env) -> machine.Kernel | None:
    """The kernel (and its initrd) in the env's /boot, or None."""
    boot = resolve_in_root(env.rootfs, "/boot")
    if not boot.is_dir():
        return None
    return machine.find_kernel([p.name for p in boot.iterdir() if p.is_file()])


def package(env: Env) -> str:
    """The package that installs a kernel for QEMU's virt board in this env."""
    manager = pkg.detect(env.rootfs).name
    packages = machine.KERNEL_PACKAGES.get((manager, env.meta.arch))
    if packages is None:
        raise UsageError(
            f"armroot does not know a kernel package of '{env.name}' ({manager}, "
            f"{env.meta.arch}) for QEMU's virt board",
            f"install one that supports it with `armroot install {env.name} PACKAGE`",
        )
    return packages


def no_kernel(env: Env) -> UsageError:
    """The error for an env with no kernel in /boot, naming how to get one."""
    try:
        how = f"`armroot vm {env.name} --install-kernel` installs {package(env)}"
    except UsageError:
        how = f"install a kernel for QEMU's virt board with `armroot install {env.name} ...`"
    return UsageError(f"'{env.name}' has no kernel in /boot to boot", how)


def hook_needed(env: Env) -> bool:
    """Debian roots: whether armroot's initramfs-tools hook naming the virt board's drivers
    is missing or not the current text."""
    if pkg.detect(env.rootfs).name != "apt":
        return False
    hook = resolve_in_root(env.rootfs, machine.INITRAMFS_HOOK)
    return not (hook.is_file() and hook.read_text(errors="replace") == machine.INITRAMFS_HOOK_TEXT)


def hook_script() -> str:
    """The shell script that writes the hook inside the env (in a session: never through a
    link to the host)."""
    path = machine.INITRAMFS_HOOK
    return (
        f"mkdir -p {shlex.quote(os.path.dirname(path))}\n"
        f"printf %s {shlex.quote(machine.INITRAMFS_HOOK_TEXT)} >{shlex.quote(path)}\n"
        f"chmod 0755 {shlex.quote(path)}\n"
    )


def rebuild_script(kernel: machine.Kernel) -> str:
    """The command that rebuilds ``kernel``'s initramfs (with the hook)."""
    return f"update-initramfs -u -k {shlex.quote(kernel.version)}"


def has_hook(env: Env) -> bool:
    """Whether the env has armroot's initramfs hook (its initramfs then brings up the
    network itself)."""
    return resolve_in_root(env.rootfs, machine.INITRAMFS_HOOK).is_file()


def host_path(env: Env, inside: str) -> str:
    """The host path of the env's file ``inside`` (a kernel or initrd), checked regular."""
    path = resolve_in_root(env.rootfs, inside)
    if not path.is_file():
        raise UsageError(
            f"'{env.name}': {inside} is not a regular file",
            f"reinstall the kernel in '{env.name}'",
        )
    return str(path)


def systemd(env: Env) -> str | None:
    """How to boot the root's systemd: "" for its /sbin/init, a path for init=, or None
    when it has no systemd (then armroot's init runs a shell on the console)."""
    init = resolve_in_root(env.rootfs, "/sbin/init")
    if init.is_file() and "systemd" in init.name:
        return ""
    for path in ("/usr/lib/systemd/systemd", "/lib/systemd/systemd"):
        if resolve_in_root(env.rootfs, path).is_file():
            return path
    return None


def missing_dirs(env: Env, path: str) -> list[str]:
    """The directories above ``path`` the root does not have, outermost first."""
    missing: list[str] = []
    parent = os.path.dirname(path)
    while parent != "/" and not resolve_in_root(env.rootfs, parent).is_dir():
        missing.insert(0, parent)
        parent = os.path.dirname(parent)
    return missing
