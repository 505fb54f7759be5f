"""What a whole-system VM of an env is: QEMU program, CPU, memory, kernel, command line. Pure.

`armroot vm` boots the env's own kernel on QEMU's ``virt`` board (TCG): the board every
Debian arm64 and armmp kernel supports, with virtio disks and network. The Pi's own SoCs
are not emulated; the CPU model is the board's.
"""

from __future__ import annotations

import re
import shlex
from typing import NamedTuple

from armroot.errors import UsageError
from armroot.rootfs.arch import ARM64, ARMHF, Arch
from armroot.session.plan import CA_BUNDLE_PATHS, CA_ENV_VARS

MIN_MEM_MB = 256  # a Debian kernel and initramfs need about this much to reach the root
DEFAULT_MEM_MB = 1024
MAX_MEM_MB_32 = 3072  # qemu-system-arm's virt board below its high-memory window
MAX_CPUS = 8  # the virt board's GICv2

# A kernel package that boots on the virt board, per package manager and architecture.
KERNEL_PACKAGES = {
    ("apt", ARM64.name): "linux-image-arm64",
    ("apt", ARMHF.name): "linux-image-armmp-lpae",
    ("pacman", ARM64.name): "linux-aarch64",
    ("pacman", ARMHF.name): "linux-armv7",
}


# Debian roots: an initramfs-tools hook that names the virt board's drivers. MODULES=most
# finds block and network drivers by a symbol search (dracut-install -s) that finds nothing
# in 32-bit roots under QEMU user-mode emulation, leaving /dev/vda unreadable at boot.
INITRAMFS_HOOK = "/etc/initramfs-tools/hooks/armroot-vm"
VIRT_MODULES = (
    "virtio_mmio",
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_console",
    "virtio_rng",
    "ext4",
    "crc32c_generic",
)
INITRAMFS_HOOK_TEXT = f"""#!/bin/sh
# Written by `armroot vm --install-kernel`: the drivers of QEMU's virt board, by name.
PREREQ=""
prereqs() {{ echo "$PREREQ"; }}
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
for module in {" ".join(VIRT_MODULES)}; do
  manual_add_modules "$module"
done
"""
NO_DISK_SIGN = "/dev/vda does not exist"


class Kernel(NamedTuple):
    """A kernel and its initramfs, as paths inside the root."""

    image: str
    initrd: str | None
    version: str


class VmSpec(NamedTuple):
    """Everything the qemu-system command line is made of."""

    arch: str
    cpu: str
    mem_mb: int
    cpus: int
    kernel: str  # host paths
    initrd: str | None
    disk: str
    append: str
    interactive: bool


def qemu_program(arch: Arch) -> str:
    return "qemu-system-aarch64" if arch is ARM64 else "qemu-system-arm"


def vm_cpu(arch: Arch, board_cpu_32: str | None, board_cpu_64: str | None) -> str:
    """The board's CPU model, as far as the virt board takes it."""
    if arch is ARM64:
        return board_cpu_64 or "cortex-a72"
    # qemu-system-arm has no 64-bit core to run in AArch32 (that needs KVM); a 64-bit Pi
    # running a 32-bit root gets "max", an ARMv7 with every extension, as under `run`. The
    # virt board has no ARMv5/ARMv6 core (ARM1176 of the Pi Zero and Pi 1): those boards get
    # a Cortex-A7, which runs their ARMv6 and ARMv5TE code.
    return board_cpu_32 if board_cpu_32 in ("cortex-a7", "cortex-a15", "max") else "cortex-a7"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$")


def parse_mem(text: str) -> int:
    """``--mem``: megabytes, or a size like 512M / 2G."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"--mem {text!r} is not a size", "write it like 1024, 512M or 2G")
    number, unit = float(match.group(1)), match.group(2).upper()
    scale = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
    return int(number * scale)


def check_mem(mem_mb: int, arch: Arch, host_available_mb: int | None) -> None:
    if mem_mb < MIN_MEM_MB:
        raise UsageError(
            f"--mem {mem_mb}M is not enough memory to boot a Debian kernel",
            f"give it at least {MIN_MEM_MB}M (the default is {DEFAULT_MEM_MB}M)",
        )
    if arch is not ARM64 and mem_mb > MAX_MEM_MB_32:
        raise UsageError(
            f"--mem {mem_mb}M is more than a 32-bit virt machine takes",
            f"give at most {MAX_MEM_MB_32}M",
        )
    if host_available_mb is not None and mem_mb > host_available_mb:
        raise UsageError(
            f"--mem {mem_mb}M is more than this machine has free ({host_available_mb}M)",
            "give the VM less memory, or stop something that uses it",
        )


def check_cpus(cpus: int) -> None:
    if not 1 <= cpus <= MAX_CPUS:
        raise UsageError(
            f"--cpus {cpus}: the virt board takes 1 to {MAX_CPUS} CPUs", "pick one in that range"
        )


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"[.+~-]", version)
    )


def find_kernel(boot_files: list[str]) -> Kernel | None:
    """The newest kernel in a root's /boot listing, with its initramfs.

    Debian: vmlinuz-VERSION + initrd.img-VERSION; Arch Linux ARM: Image[.gz] or zImage +
    initramfs-linux.img.
    """
    names = set(boot_files)
    versions = [f[len("vmlinuz-") :] for f in names if f.startswith("vmlinuz-")]
    if versions:
        version = max(versions, key=_version_key)
        initrd = f"initrd.img-{version}"
        return Kernel(
            f"/boot/vmlinuz-{version}", f"/boot/{initrd}" if initrd in names else None, version
        )
    for image in ("Image", "Image.gz", "zImage"):
        if image in names:
            initrd = "initramfs-linux.img"
            return Kernel(f"/boot/{image}", f"/boot/{initrd}" if initrd in names else None, "")
    return None


SHELL_BANNER = "armroot vm: a root shell on the serial console; exit it to power off"
MARK_BEGIN = "@@armroot-begin:"
MARK_END = "\n@@armroot-exit:"


def init_script(
    argv: tuple[str, ...],
    workdir: str,
    nonce: str,
    term: str,
    interactive: bool = False,
    host_ca: str | None = None,
) -> str:
    """The guest's PID 1 when the env's own init is not booted: mount what a system has,
    bring up the user-mode network if the root has `ip`, run ``argv``, power off.

    With a command (not ``interactive``) its output goes to the serial console between two
    markers the host looks for, stdin is /dev/null, and the exit status follows the end
    marker. Interactive (a root without systemd): ``argv`` is a login shell on the console.
    ``host_ca``: a CA bundle in the image, bound over the root's own (--host-ca).
    """
    command = shlex.join(argv)
    trust = ""
    if host_ca:
        ca = shlex.quote(host_ca)
        trust = "".join(
            f"[ -f {path} ] && mount --bind {ca} {path}\n" for path in CA_BUNDLE_PATHS
        ) + "".join(f"export {var}={ca}\n" for var in CA_ENV_VARS)
    if interactive:
        body = f"""stty sane 2>/dev/null
echo "{SHELL_BANNER}"
cd {shlex.quote(workdir)} 2>/dev/null || cd /
if command -v setsid >/dev/null 2>&1; then
  setsid -c env HOME=/root TERM={shlex.quote(term)} PATH="$PATH" {command}
else
  env HOME=/root TERM={shlex.quote(term)} PATH="$PATH" {command}
fi
sync
"""
    else:
        ca_vars = (
            "".join(f"{var}={shlex.quote(host_ca)} " for var in CA_ENV_VARS) if host_ca else ""
        )
        body = f"""stty -onlcr -echo 2>/dev/null
printf '{MARK_BEGIN}%s@@\\n' {nonce}
cd {shlex.quote(workdir)} 2>/dev/null || cd /
env -i HOME=/root TERM={shlex.quote(term)} PATH="$PATH" LANG=C.UTF-8 {ca_vars}{command} </dev/null
status=$?
sync
printf '\\n{MARK_END.strip()}%s:%d@@\\n' {nonce} "$status"
"""
    return f"""#!/bin/sh
# armroot vm: PID 1 of the VM. Written into the VM's disk image only.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /dev/shm 2>/dev/null
mount -t tmpfs -o mode=755 tmpfs /run 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp 2>/dev/null
mount -o remount,rw / 2>/dev/null
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
echo 1 >/proc/sys/kernel/printk 2>/dev/null
hostname armroot-vm 2>/dev/null
if command -v ip >/dev/null 2>&1; then
  ip link set lo up
  dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
  if [ -n "$dev" ] && ! ip -4 addr show dev "$dev" | grep -q inet; then
    ip link set "$dev" up && ip addr add 10.0.2.15/24 dev "$dev" &&
      ip route add default via 10.0.2.2
  fi
fi
if [ -L /etc/resolv.conf ]; then
  target=$(readlink -f /etc/resolv.conf)
  case "$target" in /run/*) mkdir -p "${{target%/*}}"; echo 'nameserver 10.0.2.3' >"$target";; esac
elif [ -f /etc/resolv.conf ]; then
  echo 'nameserver 10.0.2.3' >/run/armroot-resolv.conf
  mount --bind /run/armroot-resolv.conf /etc/resolv.conf
fi
{trust}{body}kill -TERM -1 2>/dev/null; sleep 1; kill -KILL -1 2>/dev/null
sync
mount -o remount,ro / 2>/dev/null
echo o >/proc/sysrq-trigger
sleep 30
"""


# QEMU's user-mode network: the guest's address, the gateway and DNS it provides.
GUEST_IP = "ip=10.0.2.15::10.0.2.2:255.255.255.0:armroot-vm:eth0:off:10.0.2.3"


def kernel_append(interactive: bool, init: str | None, initramfs_network: bool = False) -> str:
    """The kernel command line: the serial console, the disk as root, quiet unless
    interactive, and a panic ends the VM (QEMU runs with -no-reboot). With
    ``initramfs_network`` (armroot's hook put virtio_net into a Debian initramfs) the
    initramfs configures the network before the root's init starts."""
    parts = ["console=ttyAMA0", "root=/dev/vda", "rw", "rootwait", "panic=-1"]
    if initramfs_network:
        parts.append(GUEST_IP)
    if init:
        parts.append(f"init={init}")
    if not interactive:
        parts += ["quiet", "loglevel=1", "fsck.mode=skip"]
    return " ".join(parts)


def qemu_argv(spec: VmSpec, program: str) -> list[str]:
    """The qemu-system command line for ``spec``."""
    argv = [
        program,
        "-machine",
        "virt",
        "-accel",
        "tcg",
        "-cpu",
        spec.cpu,
        "-smp",
        str(spec.cpus),
        "-m",
        f"{spec.mem_mb}M",
        "-nodefaults",
        "-no-user-config",
        "-no-reboot",
        "-display",
        "none",
        "-kernel",
        spec.kernel,
    ]
    if spec.initrd:
        argv += ["-initrd", spec.initrd]
    argv += [
        "-append",
        spec.append,
        "-drive",
        f"file={spec.disk.replace(',', ',,')},format=raw,if=none,id=root,cache=unsafe",
        # virtio-mmio: the armmp kernel's initramfs has no driver for the board's PCIe host.
        "-device",
        "virtio-blk-device,drive=root",
        "-netdev",
        "user,id=net0",
        "-device",
        "virtio-net-device,netdev=net0",
        "-device",
        "virtio-rng-device",
        # Interactive: the monitor shares the console (Ctrl-A C; Ctrl-A X quits). With a
        # command: the console alone (-nodefaults adds no monitor), so no byte is special.
        "-serial",
        "mon:stdio" if spec.interactive else "stdio",
    ]
    return argv
