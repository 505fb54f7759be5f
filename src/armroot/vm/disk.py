"""The VM's root disk: an ext4 image made from the env's root with ``mke2fs -d`` (no host
mount), a few files of armroot's written into the image only with ``debugfs``, and, for
``--persist``, the image copied back into a new root afterwards."""

from __future__ import annotations

import os
from pathlib import Path

from armroot import log
from armroot.errors import ExternalCommandError
from armroot.host import programs
from armroot.images import diskimage
from armroot.store.tree import dir_size

HEADROOM = 2 * 2**30  # free space in the image for what the VM writes (the file is sparse)
MIN_INODES = 65536
INIT_DIR = "/.armroot"
INIT = f"{INIT_DIR}/init"
HOST_CA = f"{INIT_DIR}/host-ca.crt"
AUTOLOGIN_DIR = "/etc/systemd/system/serial-getty@ttyAMA0.service.d"
AUTOLOGIN = f"{AUTOLOGIN_DIR}/armroot-console.conf"
# A root shell straight on the serial console: no login (Debian 13's minimal roots have no
# `login` for agetty to run). Ending the shell powers the VM off, as without systemd.
AUTOLOGIN_TEXT = """\
# armroot vm: root's shell on the serial console. Written into the VM's disk image only.
[Service]
Environment=HOME=/root
WorkingDirectory=-/root
Restart=no
ExecStart=
ExecStart=-/bin/sh -c 'echo "armroot vm: a root shell on the serial console; \\
exit it to power off"; if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l'
ExecStopPost=-/bin/sh -c 'systemctl poweroff --no-block 2>/dev/null'
"""


def count_inodes(rootfs: Path) -> int:
    total = 0
    for _dirpath, dirnames, filenames in os.walk(rootfs):
        total += len(dirnames) + len(filenames)
    return total


def make_image(rootfs: Path, image: Path) -> None:
    """An ext4 image of ``rootfs`` (owners, modes, links, device nodes, xattrs as mke2fs
    -d copies them), sized to the root plus HEADROOM."""
    used = dir_size(rootfs)
    size = used + HEADROOM
    inodes = max(MIN_INODES, 2 * count_inodes(rootfs))
    with log.step(f"Making the VM's disk ({used / 2**20:.0f} MiB used, {size / 2**30:.1f} GiB)"):
        programs.run(
            [
                "mke2fs",
                "-q",
                "-F",
                "-t",
                "ext4",
                "-L",
                "armroot-vm",
                "-N",
                str(inodes),
                "-d",
                str(rootfs),
                str(image),
                f"{size // 1024}k",
            ],
            capture=True,
        )


def _debugfs(image: Path, commands: list[str], work: Path) -> str:
    script = work / "debugfs.cmds"
    script.write_text("\n".join(commands) + "\n")
    proc = programs.run(
        ["debugfs", "-w", "-f", script.name, str(image)], capture=True, cwd=work, check=True
    )
    return (proc.stdout or "") + (proc.stderr or "")


def add_files(image: Path, files: dict[str, tuple[str, int]], dirs: list[str], work: Path) -> None:
    """Write ``files`` (path inside -> text, mode) into the image, root-owned, making the
    missing ``dirs`` first. Paths are armroot's own constants (debugfs splits words)."""
    commands: list[str] = []
    for directory in dirs:
        commands += [f"mkdir {directory}", f"sif {directory} uid 0", f"sif {directory} gid 0"]
    for index, (inside, (text, mode)) in enumerate(files.items()):
        local = f"file{index}"
        (work / local).write_text(text)
        commands += [
            f"write {local} {inside}",
            f"sif {inside} mode 0{0o100000 | mode:o}",
            f"sif {inside} uid 0",
            f"sif {inside} gid 0",
        ]
    _debugfs(image, commands, work)
    listing = _debugfs(image, [f"stat {path}" for path in files], work)
    if "File not found" in listing:
        raise ExternalCommandError(
            "debugfs could not write armroot's files into the VM's disk",
            "run again with --verbose to see its output",
        )


def remove_files(image: Path, files: list[str], dirs: list[str], work: Path) -> None:
    """Take armroot's files out of the image again (before --persist copies it back)."""
    commands = [f"rm {path}" for path in files] + [f"rmdir {d}" for d in reversed(dirs)]
    _debugfs(image, commands, work)


def copy_back(image: Path, target: Path, work: Path, devices: bool) -> None:
    """The image's files into the empty directory ``target`` (fuse2fs in a private
    namespace + cp -a, as for disk images). e2fsck first: a VM that was stopped rather
    than powered off leaves a journal to replay."""
    proc = programs.run(["e2fsck", "-f", "-p", str(image)], capture=True, check=False)
    if proc.returncode >= 4:
        raise ExternalCommandError(
            "the VM's disk has errors e2fsck could not fix "
            f"({programs.describe_status(proc.returncode)}): nothing was kept",
            "the env is as it was before the VM; run the VM again",
        )
    diskimage.copy_filesystem(image, 0, target, work, devices, "the VM disk")
