"""Native compilers inside emulated roots (armroot.accel), on real roots and real fmt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import ARMAttributesSection

from armroot.rootfs import elfinfo
from tests.helpers import armroot
from tests.integration.conftest import ArmEnv, cache_dir
from tests.integration.workloads import (
    FMT_GTEST_SYSTEM,
    FMT_GTEST_SYSTEM_PACKAGES,
    FMT_SHA256,
    FMT_TEST_CONFIGURE,
    FMT_URL,
    fetch_pinned,
    unpack_fmt,
)

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.network]

# The lighter of fmt's tests (all of them: bench/compile.py W2); the fmt library is built in
# full either way.
FMT_TESTS = ("args-test", "assert-test", "color-test")
# ARM build attributes that say what a binary is built for (not how well it is optimised).
TARGET_TAGS = (
    "TAG_CPU_ARCH",
    "TAG_CPU_ARCH_PROFILE",
    "TAG_ARM_ISA_USE",
    "TAG_FP_ARCH",
    "TAG_ADVANCED_SIMD_ARCH",
    "TAG_ABI_VFP_ARGS",
    "TAG_ABI_PCS_WCHAR_T",
    "TAG_ABI_ENUM_SIZE",
)
HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


def _code_differences(one: Path, other: Path) -> int:
    """How many bytes of code differ between two objects whose sections must otherwise be
    the same (names, sizes, and the bytes of every section that is not code)."""
    with one.open("rb") as a, other.open("rb") as b:
        first, second = ELFFile(a), ELFFile(b)
        names = [s.name for s in first.iter_sections()]
        assert names == [s.name for s in second.iter_sections()]
        differing = 0
        for x, y in zip(first.iter_sections(), second.iter_sections(), strict=True):
            assert x["sh_size"] == y["sh_size"], x.name
            if x["sh_type"] == "SHT_NOBITS":
                continue
            if x.name.startswith(".text"):
                differing += sum(p != q for p, q in zip(x.data(), y.data(), strict=True))
            else:
                assert x.data() == y.data(), x.name
        return differing


def _arm_attributes(path: Path) -> dict[str, object]:
    with path.open("rb") as stream:
        section = ELFFile(stream).get_section_by_name(".ARM.attributes")
        if not isinstance(section, ARMAttributesSection):
            return {}
        found: dict[str, object] = {}
        for sub in section.iter_subsections():
            for subsub in sub.iter_subsubsections():
                for attribute in subsub.iter_attributes():
                    found[attribute.tag] = attribute.value
        return {tag: found.get(tag) for tag in TARGET_TAGS}


def _fmt_project(tmp_path: Path, env: ArmEnv) -> Path:
    src = unpack_fmt(
        fetch_pinned(FMT_URL, FMT_SHA256, cache_dir() / "sources"), tmp_path, FMT_GTEST_SYSTEM
    )
    configure = ["cmake", "-S", ".", "-B", "/build", "-DCMAKE_BUILD_TYPE=Release"]
    configure += FMT_TEST_CONFIGURE
    targets = " ".join(FMT_TESTS)
    regex = "|".join(f"^{t}$" for t in FMT_TESTS)
    build = (
        f"cmake --build /build --target {targets} -- -j2 && "
        f"cd /build && ctest --output-on-failure -R '{regex}'"
    )
    (src / "armroot.toml").write_text(
        f'[env]\nname = "{env.name}"\npackages = {json.dumps(list(FMT_GTEST_SYSTEM_PACKAGES))}\n'
        f"[build]\nconfigure = {json.dumps(configure)}\n"
        f'build = ["sh", "-c", {json.dumps(build)}]\nartifacts = ["bin/args-test"]\n'
    )
    return src


def _configured_from(env: ArmEnv, src: Path) -> list[Path]:
    """The env's build directories CMake configured from ``src`` (the env is shared: other
    tests, run before or after this one, leave builds of their own there)."""
    return [
        d
        for d in (env.home / "envs" / env.name / "builds").iterdir()
        if (d / "CMakeCache.txt").is_file()
        and f"CMAKE_HOME_DIRECTORY:INTERNAL={src}\n" in (d / "CMakeCache.txt").read_text()
    ]


# The build directory `armroot build` keeps per mode (commands.build._build_dir).
SUFFIX = {"clang": "", "twins": "-twins", "none": "-emulated"}


def _build_dir(env: ArmEnv, src: Path, mode: str) -> Path:
    others = [s for s in SUFFIX.values() if s]
    dirs = [
        d
        for d in _configured_from(env, src)
        if (d.name.endswith(SUFFIX[mode]) if SUFFIX[mode] else not d.name.endswith(tuple(others)))
    ]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_fmt_tests_pass_built_natively_and_emulated_with_the_same_target(
    arch: str, shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    """fmt built three ways: native clang (the same target as the root's gcc), the root's
    own gcc through its twins (every object file byte for byte the emulated gcc's), and
    fully emulated. The emulated reference build (three to four minutes of the suite per
    architecture) runs only with ARMROOT_TEST_REFERENCE=1; without it clang's build is
    compared with the twins', and the twins' bytes against the emulated gcc's are proven on
    libogg's Debian package and smaller C, C++, LTO, OpenMP and Fortran programs
    (test_twins_session.py)."""
    env = shared_envs[arch]
    src = _fmt_project(tmp_path, env)
    results = {}
    reference = os.environ.get("ARMROOT_TEST_REFERENCE") == "1"
    for mode in ("clang", "twins", "none") if reference else ("clang", "twins"):
        out = tmp_path / f"out-{mode}"
        proc = armroot(
            "build", "--ephemeral", "--src", str(src), "--out", str(out), "--accel", mode,
            home=env.home, timeout=3000,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        build_dir = _build_dir(env, src, mode)
        log = (build_dir / "armroot-build.log").read_text()
        assert f"100% tests passed, 0 tests failed out of {len(FMT_TESTS)}" in log, log[-3000:]
        # The compiler the build recorded: the native clang, or the root's own gcc; through
        # the compiler cache's names when accelerated.
        cache = (build_dir / "CMakeCache.txt").read_text()
        compiler = next(
            line.split("=", 1)[1] for line in cache.splitlines()
            if line.startswith("CMAKE_CXX_COMPILER:")
        )  # fmt: skip
        compiler_cmake = next((build_dir / "CMakeFiles").glob("*/CMakeCXXCompiler.cmake"))
        identity = compiler_cmake.read_text()
        results[mode] = (out / "args-test", build_dir)
        expected = "/usr/bin/c++" if mode == "none" else "/run/armroot/ccache/bin/c++"
        assert compiler == expected
        kind = "Clang" if mode == "clang" else "GNU"
        assert f'set(CMAKE_CXX_COMPILER_ID "{kind}")' in identity
    native, native_dir = results["clang"]
    twinned, twins_dir = results["twins"]
    if not reference:
        assert elfinfo.read(native) == elfinfo.read(twinned)
        assert elfinfo.read(native).arch().name == arch  # type: ignore[union-attr]
        if arch == "armhf":
            assert _arm_attributes(native) == _arm_attributes(twinned)
            for obj in sorted((native_dir / "CMakeFiles/fmt.dir/src").glob("*.o")):
                twin = twins_dir / obj.relative_to(native_dir)
                assert _arm_attributes(obj) == _arm_attributes(twin), obj.name
        return
    emulated, emulated_dir = results["none"]
    # The root's own gcc at native speed: the same bytes as under QEMU. On arm64 both gccs
    # are 64-bit programs, and every object is byte for byte the same. armhf's own gcc is a
    # 32-bit program; Debian's cross compiler of the same source version, a 64-bit one, was
    # seen to choose other registers in a few instructions of one object (fmt's format.cc at
    # -O3: 8 of 152 KB, two register pairs swapped): there the objects must have the same
    # sections of the same sizes, every section but code the same bytes, and code differing
    # in no more than a few bytes (docs/architecture.md, "Twins").
    objects = sorted(emulated_dir.rglob("*.o"))
    assert len(objects) >= 4, objects
    for obj in objects:
        twin = twins_dir / obj.relative_to(emulated_dir)
        if arch == "arm64":
            assert twin.read_bytes() == obj.read_bytes(), obj.relative_to(emulated_dir)
        else:
            assert _code_differences(twin, obj) <= 64, obj.relative_to(emulated_dir)
    if arch == "arm64":
        assert twinned.read_bytes() == emulated.read_bytes()
    assert elfinfo.read(native) == elfinfo.read(emulated)
    assert elfinfo.read(native).arch() is not None
    assert elfinfo.read(native).arch().name == arch  # type: ignore[union-attr]
    if arch == "armhf":
        assert _arm_attributes(native) == _arm_attributes(emulated)
        objects = sorted((native_dir / "CMakeFiles/fmt.dir/src").glob("*.o"))
        assert objects
        for obj in objects:
            twin = emulated_dir / obj.relative_to(native_dir)
            assert _arm_attributes(obj) == _arm_attributes(twin), obj.name


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_compilers_run_natively_and_gcc_only_flags_fall_back(
    arch: str, shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs[arch]
    work = tmp_path / "w"
    work.mkdir()
    (work / "hello.c").write_text(HELLO)
    script = (
        "cd /w && cc -O2 -o native hello.c && ./native && "
        # clang knows no -fno-tree-pre: that one invocation goes to the root's gcc
        "cc -O2 -fno-tree-pre -o fallback hello.c && ./fallback && "
        # a gcc plugin flag never reaches clang
        "gcc -fplugin=nonexistent -c hello.c -o plugin.o; "
        "readelf -p .comment native fallback; command -v cc; echo CC=$CC CXX=$CXX; "
        "/usr/bin/gcc -dumpversion"
    )
    proc = armroot(
        "run", "-v", env.name, "--bind", f"{work}:/w", "--", "sh", "-c", script, home=env.home
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("hello") == 2
    # The native build carries clang's mark; the fallback build only gcc's.
    native_comment, fallback_comment = proc.stdout.split("String dump of section '.comment'")[1:]
    assert "clang version" in native_comment
    assert "clang version" not in fallback_comment and "GCC:" in fallback_comment
    assert "armroot accel: cc -> the root's /usr/bin/cc (native compiler failed" in proc.stderr
    assert "'-fno-tree-pre'" in proc.stderr
    assert "gcc -> the root's /usr/bin/gcc (gcc-only argument -fplugin=nonexistent)" in proc.stderr
    assert "/run/armroot/ccache/bin/cc" in proc.stdout  # the compiler cache, then the shim
    assert "CC=/run/armroot/ccache/bin/cc CXX=/run/armroot/ccache/bin/c++" in proc.stdout


@pytest.mark.parametrize("arch", ["arm64"])
def test_no_accel_leaves_the_roots_own_compilers(arch: str, shared_envs: dict[str, ArmEnv]) -> None:
    env = shared_envs[arch]
    proc = armroot(
        "run", env.name, "--no-accel", "--", "sh", "-c",
        "command -v cc; echo CC=${CC:-unset}; ls /run/armroot 2>&1; true",
        home=env.home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "/usr/bin/cc" and lines[1] == "CC=unset"
    assert "No such file" in lines[2]


def test_missing_or_broken_zig_is_one_line_then_emulated_compilers(
    shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs["arm64"]
    broken = tmp_path / "zig"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    for zig, expected in (
        (str(tmp_path / "absent"), f"ARMROOT_ZIG={tmp_path / 'absent'} does not exist"),
        (str(broken), "could not build armroot's compiler shim"),
    ):
        proc = armroot(
            "run", env.name, "--", "sh", "-c", "command -v cc",
            home=env.home, env={"ARMROOT_ZIG": zig},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "/usr/bin/cc"
        warnings = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(warnings) == 1, proc.stderr
        assert expected in warnings[0] and "--no-accel" in warnings[0]


CMAKE_OWN_PATHS = (
    "CMAKE_COMMAND:INTERNAL",
    "CMAKE_CTEST_COMMAND:INTERNAL",
    "CMAKE_CPACK_COMMAND:INTERNAL",
    "CMAKE_ROOT:INTERNAL",
)


def _cache_entries(build_dir: Path, src: Path) -> dict[str, str]:
    entries = {}
    for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
        if line and not line.startswith(("#", "//")) and "=" in line:
            key, value = line.split("=", 1)
            entries[key] = value.replace(str(src), "SRC")
    return entries


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_native_cmake_gives_what_the_roots_emulated_cmake_gives(
    arch: str, shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    env = shared_envs[arch]
    tarball = fetch_pinned(FMT_URL, FMT_SHA256, cache_dir() / "sources")
    configure = ["cmake", "-S", ".", "-B", "/build", "-DCMAKE_BUILD_TYPE=Release"]
    configure += ["-DFMT_TEST=OFF", "-DFMT_DOC=OFF", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"]
    built = {}
    for native in ("1", "0"):  # same-length source paths: objects compare byte for byte
        src = unpack_fmt(tarball, tmp_path / f"cmake-{native}")
        (src / "armroot.toml").write_text(
            f"[build]\nconfigure = {json.dumps(configure)}\n"
            'build = ["cmake", "--build", "/build", "--", "-j2"]\n'
        )
        proc = armroot(
            "build", env.name, "--src", str(src),
            home=env.home, env={"ARMROOT_NATIVE_CMAKE": native}, timeout=1800,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        [build_dir] = _configured_from(env, src)
        built[native] = (build_dir, src)
    (n_dir, n_src), (e_dir, e_src) = built["1"], built["0"]
    native_cache, emulated_cache = _cache_entries(n_dir, n_src), _cache_entries(e_dir, e_src)
    assert native_cache["CMAKE_COMMAND:INTERNAL"] == "/run/armroot/cmake/bin/cmake"
    assert emulated_cache["CMAKE_COMMAND:INTERNAL"] == "/usr/bin/cmake"
    for key in CMAKE_OWN_PATHS:
        del native_cache[key], emulated_cache[key]
    assert native_cache == emulated_cache
    system = sorted(n_dir.glob("CMakeFiles/*/CMakeSystem.cmake"))[0]
    machine = {"arm64": "aarch64", "armhf": "armv7l"}[arch]
    assert f'set(CMAKE_HOST_SYSTEM_PROCESSOR "{machine}")' in system.read_text()
    assert system.read_text() == (e_dir / system.relative_to(n_dir)).read_text()
    commands = [
        json.loads((d / "compile_commands.json").read_text().replace(str(s), "SRC"))
        for d, s in ((n_dir, n_src), (e_dir, e_src))
    ]
    assert commands[0] == commands[1] and commands[0]
    assert (n_dir / "libfmt.a").read_bytes() == (e_dir / "libfmt.a").read_bytes()
