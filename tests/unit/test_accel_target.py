"""The native compiler's target, read from what a root's gcc says (real outputs, quoted)."""

from __future__ import annotations

import pytest

from armroot.accel import layout, mounts, probe, shim
from armroot.rootfs import boards
from armroot.sandbox.ops import Bind, File, Symlink

# `gcc -v -E -x c /dev/null -o /dev/null` in Debian trixie roots (cc1 line).
ARMHF_CC1 = (
    "/usr/libexec/gcc/arm-linux-gnueabihf/14/cc1 -E -quiet -v -imultilib . -imultiarch "
    "arm-linux-gnueabihf /dev/null -o /dev/null -mfloat-abi=hard -mtls-dialect=gnu -mthumb "
    "-mlibarch=armv7-a+fp -march=armv7-a+fp -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 "
    "-dumpbase null"
)
ARM64_CC1 = (
    "/usr/libexec/gcc/aarch64-linux-gnu/14/cc1 -E -quiet -v -imultiarch aarch64-linux-gnu "
    "/dev/null -o /dev/null -mlittle-endian -mabi=lp64 -fasynchronous-unwind-tables "
    "-dumpbase null"
)


def probe_output(triple: str, cc1: str, macros: str) -> str:
    sep = probe.SEPARATOR
    return (
        f"{triple}\n14\n{sep}\nUsing built-in specs.\n {cc1}\nEnd of search list.\n{sep}\n{macros}"
    )


def test_probe_is_parsed_into_triple_version_cc1_and_macros() -> None:
    text = probe_output(
        "arm-linux-gnueabihf", ARMHF_CC1, "#define __ARM_ARCH 7\n#define __thumb2__ 1\n"
    )
    answer = probe.parse_probe(text)
    assert answer.triple == "arm-linux-gnueabihf" and answer.gcc_version == "14"
    assert answer.cc1_args[0] == "-E" and "-march=armv7-a+fp" in answer.cc1_args
    assert answer.macros == {"__ARM_ARCH": "7", "__thumb2__": "1"}


@pytest.mark.parametrize(
    "text", ["", "aarch64-linux-gnu\n14\n", probe_output("a", "no compiler here", "")]
)
def test_a_probe_gcc_did_not_answer_is_an_error(text: str) -> None:
    with pytest.raises(probe.ProbeError):
        probe.parse_probe(text)


def test_armhf_defaults_become_clang_flags_with_the_fpu_named() -> None:
    flags = probe.clang_flags("arm-linux-gnueabihf", ARMHF_CC1.split()[1:])
    # Debian's 64-bit time_t defines are ABI: they must be carried over.
    assert flags == (
        "-mfloat-abi=hard",
        "-mthumb",
        "-D_TIME_BITS=64",
        "-D_FILE_OFFSET_BITS=64",
        "-march=armv7-a",
        "-mfpu=vfpv3-d16",
    )


def test_arm64_defaults_drop_what_clang_does_not_take() -> None:
    flags = probe.clang_flags("aarch64-linux-gnu", ARM64_CC1.split()[1:])
    assert flags == ("-mlittle-endian", "-fasynchronous-unwind-tables")


def test_armv6_hard_float_root_gets_vfpv2_and_separate_defines() -> None:
    args = ["-march=armv6+fp", "-mfloat-abi=hard", "-marm", "-D", "FOO=1", "-U", "BAR"]
    assert probe.clang_flags("arm-linux-gnueabihf", args) == (
        "-mfloat-abi=hard",
        "-marm",
        "-DFOO=1",
        "-UBAR",
        "-march=armv6",
        "-mfpu=vfpv2",
    )


def test_an_fpu_extension_without_a_clang_name_is_refused() -> None:
    with pytest.raises(ValueError, match="armv7-a\\+mve"):
        probe.clang_flags("arm-linux-gnueabihf", ["-march=armv7-a+mve"])


def test_macros_compare_by_meaning_and_name_the_difference() -> None:
    gcc = {"__ARM_FP": "12", "__ARM_ARCH_PROFILE": "65", "__ARM_ARCH": "7"}
    clang = {"__ARM_FP": "0xc", "__ARM_ARCH_PROFILE": "'A'", "__ARM_ARCH": "7"}
    assert probe.compare_macros(gcc, clang) is None
    problem = probe.compare_macros(gcc, {**clang, "__ARM_NEON": "1"})
    assert problem is not None and "__ARM_NEON=1" in problem and "no __ARM_NEON" in problem
    problem = probe.compare_macros({**gcc, "_TIME_BITS": "64"}, clang)
    assert problem is not None and "_TIME_BITS" in problem


def test_a_board_replaces_the_cpu_but_keeps_the_abi() -> None:
    flags = ("-mfloat-abi=hard", "-mthumb", "-D_TIME_BITS=64", "-march=armv7-a", "-mfpu=vfpv3-d16")
    pi_zero = probe.with_board(flags, boards.by_name("pi-zero"), sixty_four=False)
    assert pi_zero == (
        "-mfloat-abi=hard",
        "-mthumb",
        "-D_TIME_BITS=64",
        "-mcpu=arm1176jzf-s",
        "-mfpu=vfp",
    )
    pi4 = probe.with_board(("-mlittle-endian",), boards.by_name("pi4"), sixty_four=True)
    assert pi4 == ("-mlittle-endian", "-mcpu=cortex-a72")
    assert probe.with_board(flags, None, sixty_four=False) == flags


def test_every_board_has_a_cpu_for_the_native_compiler() -> None:
    for board in boards.BOARDS:
        assert probe.with_board(("-march=x",), board, sixty_four=False) != ("-march=x",)


def test_compiler_names_exist_only_where_the_root_has_that_compiler() -> None:
    in_root = {"/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/gcc-14", "/usr/bin/aarch64-linux-gnu-gcc"}
    found = shim.tools("aarch64-linux-gnu", "14", in_root.__contains__)
    names = {t.name: t for t in found}
    assert names["gcc"] == shim.Tool("gcc", "cc", "/usr/bin/gcc")
    assert "g++" not in names and "c++" not in names  # no g++ in this root
    assert names["ar"].fallback is None and names["ld.lld"].kind == "ld.lld"
    assert "aarch64-linux-gnu-ranlib" in names


def test_config_and_session_put_the_shim_first_without_touching_the_env() -> None:
    tools = shim.tools("arm-linux-gnueabihf", "14", {"/usr/bin/cc", "/usr/bin/c++"}.__contains__)
    accel = mounts.session(
        "/opt/zig", "/cache/shim", "arm-linux-gnueabihf", ("-mthumb",), tools, True, "/usr/bin:/bin"
    )
    env = dict(accel.env)
    assert env["PATH"] == f"{layout.BIN_INSIDE}:/usr/bin:/bin"
    assert env["CC"] == f"{layout.BIN_INSIDE}/cc" and env["CXX"] == f"{layout.BIN_INSIDE}/c++"
    for op in accel.ops:  # everything lands in the session's /run tmpfs
        assert op.target.startswith("/run/armroot/")
    binds = [op for op in accel.ops if isinstance(op, Bind)]
    assert all(b.readonly for b in binds)
    links = {op.target for op in accel.ops if isinstance(op, Symlink)}
    assert f"{layout.BIN_INSIDE}/c++" in links
    config = next(op for op in accel.ops if isinstance(op, File)).content
    lines = config.splitlines()
    assert lines[0] == "verbose\t1"
    assert "tool\tc++\tc++\t/usr/bin/c++" in lines and "tool\tar\tar\t-" in lines
    cxx = next(line.split("\t") for line in lines if line.startswith("kind\tc++\t"))
    assert cxx[2:5] == [f"{layout.ZIG_INSIDE}/zig", "clang", "--driver-mode=g++"]
    assert "--target=arm-linux-gnueabihf" in cxx and cxx[-1] == "-mthumb"
    assert "gcc-only-prefix\t-fplugin" in lines


def test_a_flag_with_a_tab_cannot_break_the_config() -> None:
    with pytest.raises(ValueError):
        shim.config_text("arm-linux-gnueabihf", ("-DX=\tY",), (), False)


def test_target_round_trips_through_metadata() -> None:
    target = probe.Target("arm-linux-gnueabihf", "14", ("-mthumb",), "key", None)
    assert probe.Target.from_dict(target.to_dict()) == target
    assert probe.Target.from_dict({"triple": "x"}) is None


def test_the_callers_march_or_mcpu_replaces_the_default_cpu() -> None:
    flags = ("-mfloat-abi=soft", "-marm", "-mcpu=arm1176jzf-s", "-mfpu=vfp")
    lines = shim.config_text("arm-linux-gnueabi", flags, (), False).splitlines()
    # shim.c drops these words when the caller passes -march= or -mcpu= (as gcc's configured
    # defaults yield to them); the float ABI and FPU stay.
    assert [line for line in lines if line.startswith("arch-default")] == [
        "arch-default\t-mcpu=arm1176jzf-s"
    ]


def test_32_bit_arm_links_with_the_roots_ld_and_64_bit_with_lld() -> None:
    # lld keeps the first object's ARM build attributes: an ARMv7 program linked with ARMv5
    # crt files would claim ARMv5 and pass the board check.
    arm32 = shim.commands("arm-linux-gnueabi", ())["cc"]
    assert "--ld-path=/usr/bin/ld" in arm32 and "-fuse-ld=bfd" in arm32
    arm64 = shim.commands("aarch64-linux-gnu", ())["c++"]
    assert f"--ld-path={layout.BIN_INSIDE}/ld.lld" in arm64
