"""`armroot vm`: the pure parts (QEMU command line, kernel choice, limits, console reading)."""

from __future__ import annotations

import pytest

from armroot.errors import UsageError
from armroot.rootfs.arch import ARM64, ARMEL, ARMHF
from armroot.vm import machine
from armroot.vm.console import ConsoleFilter


def test_program_and_cpu_follow_arch_and_board() -> None:
    assert machine.qemu_program(ARM64) == "qemu-system-aarch64"
    assert machine.qemu_program(ARMHF) == "qemu-system-arm"
    assert machine.vm_cpu(ARM64, "max", "cortex-a53") == "cortex-a53"
    assert machine.vm_cpu(ARM64, None, None) == "cortex-a72"
    assert machine.vm_cpu(ARMHF, "cortex-a7", None) == "cortex-a7"
    assert machine.vm_cpu(ARMHF, "max", "cortex-a72") == "max"
    assert machine.vm_cpu(ARMHF, None, None) == "cortex-a7"
    assert machine.vm_cpu(ARMHF, "arm1176", None) == "cortex-a7"  # pi-zero: no ARMv6 on virt
    assert machine.vm_cpu(ARMEL, "arm926", None) == "cortex-a7"


@pytest.mark.parametrize(
    ("text", "mb"), [("1024", 1024), ("512M", 512), ("2G", 2048), ("1.5g", 1536), ("768MiB", 768)]
)
def test_mem_sizes(text: str, mb: int) -> None:
    assert machine.parse_mem(text) == mb


@pytest.mark.parametrize("text", ["", "lots", "-1", "2X", "1G2"])
def test_bad_mem_sizes(text: str) -> None:
    with pytest.raises(UsageError, match="is not a size"):
        machine.parse_mem(text)


def test_mem_limits() -> None:
    machine.check_mem(1024, ARM64, 4096)
    with pytest.raises(UsageError, match="not enough memory to boot"):
        machine.check_mem(128, ARM64, 4096)
    with pytest.raises(UsageError, match="more than this machine has free"):
        machine.check_mem(8192, ARM64, 4096)
    with pytest.raises(UsageError, match="more than a 32-bit virt machine takes"):
        machine.check_mem(4096, ARMHF, None)
    machine.check_mem(8192, ARM64, None)  # free memory unknown: QEMU decides


def test_cpu_count_limits() -> None:
    machine.check_cpus(1)
    machine.check_cpus(8)
    for bad in (0, 9, -2):
        with pytest.raises(UsageError, match="1 to 8 CPUs"):
            machine.check_cpus(bad)


def test_kernel_is_the_newest_debian_one_with_its_initrd() -> None:
    listing = [
        "vmlinuz-6.1.0-9-arm64",
        "initrd.img-6.1.0-9-arm64",
        "vmlinuz-6.12.117+deb13-arm64",
        "initrd.img-6.12.117+deb13-arm64",
        "config-6.12.117+deb13-arm64",
        "System.map-6.12.117+deb13-arm64",
    ]
    kernel = machine.find_kernel(listing)
    assert kernel == machine.Kernel(
        "/boot/vmlinuz-6.12.117+deb13-arm64",
        "/boot/initrd.img-6.12.117+deb13-arm64",
        "6.12.117+deb13-arm64",
    )
    no_initrd = machine.find_kernel(["vmlinuz-6.1.0-9-armmp-lpae"])
    assert no_initrd is not None and no_initrd.initrd is None


def test_kernel_of_arch_linux_arm_and_none() -> None:
    assert machine.find_kernel(["Image", "initramfs-linux.img", "dtbs"]) == machine.Kernel(
        "/boot/Image", "/boot/initramfs-linux.img", ""
    )
    assert machine.find_kernel(["zImage"]) == machine.Kernel("/boot/zImage", None, "")
    assert machine.find_kernel([]) is None
    assert machine.find_kernel(["config-6.1", "firmware"]) is None


def test_qemu_command_line() -> None:
    spec = machine.VmSpec(
        arch="arm64",
        cpu="cortex-a72",
        mem_mb=1024,
        cpus=2,
        kernel="/s/vmlinuz",
        initrd="/s/initrd",
        disk="/w/disk,1.img",
        append=machine.kernel_append(False, "/.armroot/init"),
        interactive=False,
    )
    argv = machine.qemu_argv(spec, "qemu-system-aarch64")
    joined = " ".join(argv)
    assert argv[:5] == ["qemu-system-aarch64", "-machine", "virt", "-accel", "tcg"]
    assert "-cpu cortex-a72 -smp 2 -m 1024M" in joined
    assert "-kernel /s/vmlinuz -initrd /s/initrd" in joined
    assert "-no-reboot" in argv and "-nodefaults" in argv
    assert "-netdev user,id=net0" in joined
    assert argv[-2:] == ["-serial", "stdio"]
    append = argv[argv.index("-append") + 1]
    assert "init=/.armroot/init" in append and "root=/dev/vda" in append
    assert "panic=-1" in append and "quiet" in append
    # A comma in a path would split QEMU's option list: doubled, as QEMU escapes it.
    drive = argv[argv.index("-drive") + 1]
    assert drive.startswith("file=/w/disk,,1.img,format=raw")
    interactive = machine.qemu_argv(spec._replace(interactive=True), "qemu-system-aarch64")
    assert interactive[-2:] == ["-serial", "mon:stdio"]
    assert "quiet" not in machine.kernel_append(True, None)
    assert "init=" not in machine.kernel_append(True, None)


def test_init_script_quotes_the_command() -> None:
    script = machine.init_script(("sh", "-c", "echo '$HOME'; exit 3"), "/my dir", "n0nce", "xterm")
    assert "sh -c 'echo '\"'\"'$HOME'\"'\"'; exit 3' </dev/null" in script
    assert "cd '/my dir'" in script
    assert f"{machine.MARK_BEGIN}%s@@\\n' n0nce" in script
    assert "printf '\\n@@armroot-exit:%s:%d@@\\n' n0nce \"$status\"" in script
    assert script.rstrip().endswith("sleep 30")
    shell = machine.init_script(("/bin/sh", "-l"), "/root", "x", "xterm", interactive=True)
    assert "armroot-begin" not in shell and "setsid -c" in shell


def _feed_all(console: ConsoleFilter, chunks: list[bytes]) -> bytes:
    return b"".join(console.feed(chunk) for chunk in chunks)


def test_console_passes_only_the_command_output() -> None:
    stream = (
        b"[    0.000000] Booting Linux\r\nLoading, please wait...\r\n"
        b"@@armroot-begin:abc@@\nhello\nworld\n@@armroot-exit:abc:7@@\nreboot: Power down\n"
    )
    for size in (1, 2, 3, 7, 64, len(stream)):
        console = ConsoleFilter("abc")
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert _feed_all(console, chunks) == b"hello\nworld", size
        assert console.status == 7
        assert "Loading, please wait..." in console.boot_tail()


def test_console_output_without_final_newline_and_lookalikes() -> None:
    console = ConsoleFilter("abc")
    out = _feed_all(
        console,
        [
            b"@@armroot-begin:abc@@\n",
            b"partial",
            b"\n@@armroot-exit:xyz:1@@ is not ours\n@@armroot-",
            b"begin:abc@@\n",
            b"no newline\n@@armroot-exit:abc:0@@\n",
        ],
    )
    assert out == (
        b"partial\n@@armroot-exit:xyz:1@@ is not ours\n@@armroot-begin:abc@@\nno newline"
    )
    assert console.status == 0


def test_console_without_end_marker() -> None:
    console = ConsoleFilter("abc")
    assert console.feed(b"Gave up waiting for root file system device\n") == b""
    assert not console.started and console.status is None
    assert console.flush() == b""
    assert console.boot_tail().endswith("Gave up waiting for root file system device")
    started = ConsoleFilter("abc")
    assert started.feed(b"@@armroot-begin:abc@@\nhalf\n@@armroot-ex") == b"half"
    assert started.flush() == b"\n@@armroot-ex"
    assert started.status is None
