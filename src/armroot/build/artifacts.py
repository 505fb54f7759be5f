"""Find, check and hand over build artifacts.

Every ELF artifact must fit the environment: machine and class of its architecture, its
float ABI, and an ARM architecture level (Tag_CPU_arch) the board can run. The classic
failure this catches: ARMv7 code built for a Pi Zero, which dies with "Illegal instruction".
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from armroot.errors import ArmrootError
from armroot.rootfs import elfinfo
from armroot.rootfs.arch import Arch, CpuLevel
from armroot.rootfs.boards import Board

ORDER = (CpuLevel.V5TE, CpuLevel.V6, CpuLevel.V7, CpuLevel.V8)
ELF_MAGIC = b"\x7fELF"


class ArtifactError(ArmrootError):
    exit_code = 10


def find(patterns: tuple[str, ...], build_dir: Path, source_dir: Path) -> list[Path]:
    """Artifact paths: relative to the build dir, or to the source dir with a ``src:`` prefix."""
    found: list[Path] = []
    for pattern in patterns:
        base = build_dir
        if pattern.startswith("src:"):
            base, pattern = source_dir, pattern.removeprefix("src:")
        matches = sorted(glob.glob(str(base / pattern)))
        if not matches:
            raise ArtifactError(
                f"the declared artifact '{pattern}' was not built (nothing matches in {base})",
                "check [build] artifacts in armroot.toml against the build",
            )
        found += [Path(m) for m in matches if os.path.isfile(m)]
    return found


def problem(info: elfinfo.ElfInfo, arch: Arch, board: Board | None) -> str | None:
    """Why an ELF file does not fit ``arch``/``board``, or None. Pure."""
    built = info.arch()
    if built is None or built.elf_machine != arch.elf_machine or info.elf_class != arch.elf_class:
        return f"is {info.machine_name} code, but the environment is {arch.name}"
    if arch.hard_float is not None and info.hard_float != arch.hard_float:
        abi = "hard-float" if info.hard_float else "soft-float"
        return (
            f"uses the {abi} ABI, but {arch.name} is {'hard' if arch.hard_float else 'soft'}-float"
        )
    too_new = (
        board is not None
        and info.cpu_level is not None
        and info.elf_class == 32
        and ORDER.index(info.cpu_level) > ORDER.index(board.cpu_level)
    )
    if too_new:
        assert board is not None and info.cpu_level is not None
        return (
            f"contains ARM{info.cpu_level.value} instructions (Tag_CPU_arch), but "
            f"{board.name} runs ARM{board.cpu_level.value} at most: it would die with "
            '"Illegal instruction"'
        )
    if board is not None and arch.elf_class == 64 and board.qemu_cpu_64 is None:
        return f"is 64-bit, but {board.name} has no 64-bit mode"
    return None


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == ELF_MAGIC


def check(paths: list[Path], arch: Arch, board: Board | None) -> None:
    for path in paths:
        if not is_elf(path):
            continue
        reason = problem(elfinfo.read(path), arch, board)
        if reason is not None:
            hint = (
                (
                    "build for the board: use an image made for it and drop -march/-mcpu "
                    "flags that ask for more"
                )
                if board
                else "check the compiler the build uses"
            )
            raise ArtifactError(f"artifact {path.name} {reason}", hint)


def hand_over(paths: list[Path], out: Path) -> list[Path]:
    """Copy ``paths`` into ``out``, owned by the user who ran sudo (else the caller)."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    uid = int(os.environ.get("SUDO_UID", os.getuid()))
    gid = int(os.environ.get("SUDO_GID", os.getgid()))
    if created:
        os.chown(out, uid, gid)
    copied: list[Path] = []
    for path in paths:
        target = out / path.name
        shutil.copy2(path, target, follow_symlinks=True)
        os.chown(target, uid, gid)
        copied.append(target)
    return copied
