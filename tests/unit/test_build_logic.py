from __future__ import annotations

from pathlib import Path

import pytest

from armroot.build import artifacts, config, detect
from armroot.errors import UsageError
from armroot.pkg.adapters import APK, APT, PACMAN, STOP_AGENT, agent_stopped
from armroot.rootfs import boards
from armroot.rootfs.arch import ARM64, ARMEL, ARMHF, CpuLevel
from armroot.rootfs.elfinfo import ElfInfo


def test_starter_file_parses_to_its_own_defaults() -> None:
    parsed = config.parse(config.STARTER)
    assert parsed.env == "pi" and parsed.board == "pi4" and parsed.system == "auto"
    assert parsed.packages == () and parsed.artifacts == ()


def test_full_file_round_trip() -> None:
    text = """
[env]
name = "zero"
image = "raspios:lite-armhf"
board = "pi-zero"
packages = ["cmake", "libfmt-dev"]
[build]
system = "custom"
configure = ["./configure"]
build = ["make", "-j2"]
artifacts = ["src:app", "lib*.so"]
smoke = ["./app", "--version"]
"""
    parsed = config.parse(text)
    assert parsed == config.ProjectConfig(
        "zero",
        "raspios:lite-armhf",
        "pi-zero",
        ("cmake", "libfmt-dev"),
        "custom",
        ("./configure",),
        ("make", "-j2"),
        ("src:app", "lib*.so"),
        ("./app", "--version"),
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[env\n", "not valid TOML"),
        ("[envs]\n", "unknown section [envs]"),
        ("[env]\nboard = 4\n", "'board' must be a string"),
        ("[env]\npackages = [1]\n", "'packages' must be a list of strings"),
        ("[build]\nsystem = 'scons'\n", "unknown build system 'scons'"),
        ("[build]\nsystem = 'custom'\n", "needs a build command"),
        ("[build]\ntarget = 'x'\n", "unknown key 'target' in [build]"),
    ],
)
def test_bad_files_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(UsageError) as exc:
        config.parse(text, "armroot.toml")
    assert words in exc.value.one_line()


def test_build_systems_are_detected(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no build system found"):
        detect.detect(tmp_path)
    (tmp_path / "Makefile").write_text("all:\n")
    assert detect.detect(tmp_path) == "make"
    (tmp_path / "configure.ac").write_text("")
    assert detect.detect(tmp_path) == "autotools"
    (tmp_path / "meson.build").write_text("")
    assert detect.detect(tmp_path) == "meson"
    (tmp_path / "CMakeLists.txt").write_text("")
    assert detect.detect(tmp_path) == "cmake"


def test_cmake_plan_builds_out_of_tree_and_overrides_apply() -> None:
    steps = detect.plan("cmake", Path("/src/app")).steps
    assert steps[0][:5] == ("cmake", "-S", "/src/app", "-B", detect.BUILD_DIR)
    assert "-j$(nproc)" in steps[1][-1]
    custom = detect.plan("cmake", Path("/src/app"), build=("ninja", "-C", "/build")).steps
    assert custom[1] == ("ninja", "-C", "/build")


def _elf(machine: int, cls: int, hard: bool | None, level: CpuLevel | None) -> ElfInfo:
    return ElfInfo(machine, cls, hard, level, "/lib/ld-linux.so")


def test_armv7_code_is_refused_for_a_pi_zero() -> None:
    zero = boards.by_name("pi-zero")
    v7 = _elf(40, 32, False, CpuLevel.V7)
    reason = artifacts.problem(v7, ARMEL, zero)
    assert reason is not None and "ARMv7" in reason and "Illegal instruction" in reason
    assert artifacts.problem(_elf(40, 32, False, CpuLevel.V5TE), ARMEL, zero) is None


def test_wrong_machine_and_float_abi_are_refused() -> None:
    assert "x86_64" in (artifacts.problem(_elf(62, 64, None, None), ARM64, None) or "")
    assert "hard-float" in (artifacts.problem(_elf(40, 32, True, CpuLevel.V7), ARMEL, None) or "")
    assert "is 32-bit ARM" in (
        artifacts.problem(_elf(40, 32, True, CpuLevel.V7), ARM64, None) or ""
    )
    assert artifacts.problem(_elf(183, 64, None, CpuLevel.V8), ARM64, boards.by_name("pi4")) is None
    assert "no 64-bit mode" in (
        artifacts.problem(_elf(183, 64, None, CpuLevel.V8), ARM64, boards.by_name("pi2")) or ""
    )
    assert artifacts.problem(_elf(40, 32, True, CpuLevel.V7), ARMHF, boards.by_name("pi2")) is None


def test_package_manager_command_lines() -> None:
    assert APT.install(("cmake",))[-1] == (
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "cmake",
    )
    assert APT.env == ("DEBIAN_FRONTEND=noninteractive",)
    assert PACMAN.install(("cmake", "boost")) == (
        agent_stopped("pacman -Syu --needed --noconfirm cmake boost"),
    )
    (keyring,) = PACMAN.prepare(keyring_ready=False)
    assert keyring[2].startswith("pacman-key --init && if ls /usr/share/pacman/keyrings/")
    assert "pacman-key --populate-from /usr/share/pacman/keyrings --populate" in keyring[2]
    # the agent pacman-key started is stopped in the same session, and the status kept
    assert keyring[2].endswith(f"; s=$?; {STOP_AGENT}; exit $s")
    assert "gpgconf --homedir /etc/pacman.d/gnupg --kill all" in STOP_AGENT
    assert PACMAN.prepare(keyring_ready=True) == ()
    assert APK.install(("cmake",)) == (("apk", "add", "--no-progress", "-U", "cmake"),)
    assert PACMAN.upgrade() == (agent_stopped("pacman -Syu --noconfirm"),)
    script = PACMAN.install_missing(("cmake",))[2]
    assert "pacman-key --init" in script and "pacman -Syu --needed --noconfirm $m" in script


def _root(tmp_path: Path, os_release: str, binaries: tuple[str, ...]) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    for binary in binaries:
        path = root / binary.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return root


@pytest.mark.parametrize(
    ("release", "binaries", "expected"),
    [
        ("ID=debian\n", ("/usr/bin/apt-get",), "apt"),
        ("ID=raspbian\nID_LIKE=debian\n", ("/usr/bin/apt-get",), "apt"),
        ("ID=archarm\nID_LIKE=arch\n", ("/usr/bin/pacman",), "pacman"),
        ("ID=alpine\n", ("/sbin/apk",), "apk"),
        ("ID=debian\n", ("/usr/bin/pacman",), "pacman"),  # what is there wins over the name
    ],
)
def test_package_manager_is_detected(
    tmp_path: Path, release: str, binaries: tuple[str, ...], expected: str
) -> None:
    from armroot import pkg

    assert pkg.detect(_root(tmp_path, release, binaries)).name == expected


def test_no_package_manager_is_a_clear_error(tmp_path: Path) -> None:
    from armroot import pkg
    from armroot.errors import ArmrootError

    with pytest.raises(ArmrootError, match="no package manager armroot knows"):
        pkg.detect(_root(tmp_path, "ID=busybox\n", ()))
