"""Read what an ELF binary is built for (pyelftools): machine, class, float ABI, CPU level."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import ARMAttributesSection
from elftools.elf.segments import InterpSegment

from armroot.errors import SourceError
from armroot.rootfs import arch as archmod
from armroot.rootfs.arch import Arch, CpuLevel

EF_ARM_ABI_FLOAT_SOFT = 0x200
EF_ARM_ABI_FLOAT_HARD = 0x400

_MACHINE_NAMES = {
    archmod.EM_ARM: "32-bit ARM",
    archmod.EM_AARCH64: "64-bit ARM (aarch64)",
    archmod.EM_X86_64: "x86_64",
    archmod.EM_386: "x86 (i386)",
}


@dataclass(frozen=True)
class ElfInfo:
    """What one ELF file says about itself."""

    machine: int
    elf_class: int
    hard_float: bool | None
    cpu_level: CpuLevel | None
    interpreter: str | None  # PT_INTERP; None for a static binary

    @property
    def machine_name(self) -> str:
        return _MACHINE_NAMES.get(self.machine, f"ELF machine {self.machine}")

    @property
    def is_static(self) -> bool:
        return self.interpreter is None

    def arch(self) -> Arch | None:
        """The armroot architecture this binary belongs to, or None if it is not ARM Linux."""
        if self.machine == archmod.EM_AARCH64 and self.elf_class == 64:
            return archmod.ARM64
        if self.machine == archmod.EM_ARM and self.elf_class == 32:
            return archmod.ARMHF if self.hard_float else archmod.ARMEL
        return None


def _cpu_level(tag_value: int) -> CpuLevel:
    if tag_value <= 5:
        return CpuLevel.V5TE
    if tag_value <= 9:
        return CpuLevel.V6
    if tag_value < 14:
        return CpuLevel.V7
    return CpuLevel.V8


def read(path: str | os.PathLike[str]) -> ElfInfo:
    """Parse the ELF header, program headers and ARM attributes of ``path``."""
    try:
        with Path(path).open("rb") as stream:
            elf = ELFFile(stream)
            machine_map = {
                "EM_ARM": archmod.EM_ARM,
                "EM_AARCH64": archmod.EM_AARCH64,
                "EM_X86_64": archmod.EM_X86_64,
                "EM_386": archmod.EM_386,
            }
            raw_machine = elf.header.e_machine
            fallback = raw_machine if isinstance(raw_machine, int) else -1
            machine = machine_map.get(raw_machine, fallback)
            interpreter = None
            for segment in elf.iter_segments():
                if isinstance(segment, InterpSegment):
                    interpreter = segment.get_interp_name()
            hard_float: bool | None = None
            level: CpuLevel | None = None
            if machine == archmod.EM_ARM:
                flags = int(elf.header.e_flags)
                hard_float = bool(flags & EF_ARM_ABI_FLOAT_HARD)
                section = elf.get_section_by_name(".ARM.attributes")
                if isinstance(section, ARMAttributesSection):
                    for sub in section.iter_subsections():
                        for subsub in sub.iter_subsubsections():
                            for attribute in subsub.iter_attributes():
                                if attribute.tag == "TAG_CPU_ARCH":
                                    level = _cpu_level(int(attribute.value))
                                elif attribute.tag == "TAG_ABI_VFP_ARGS" and not (
                                    flags & (EF_ARM_ABI_FLOAT_HARD | EF_ARM_ABI_FLOAT_SOFT)
                                ):
                                    hard_float = int(attribute.value) == 1
            elif machine == archmod.EM_AARCH64:
                level = CpuLevel.V8
            return ElfInfo(int(machine), int(elf.elfclass), hard_float, level, interpreter)
    except (ELFError, OSError, ValueError) as exc:
        raise SourceError(f"{path} is not a readable ELF binary ({exc})") from exc
