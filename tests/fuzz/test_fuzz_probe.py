"""The tool output armroot parses, and what it keeps of it: the root's gcc's answer to the
probe, its macros and sysroot flags, the gcc target stored in an env's metadata
(armroot.accel.probe), and ccache's stats log (armroot.accel.compile_cache).

Output near each grammar, a real answer damaged at the byte level (:mod:`tests.fuzz.damage`),
or any text: each parses to values of the types armroot relies on, or fails as one line; a
stored target of any other JSON value reads back typed, or as none (gcc is asked again).
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from armroot.accel import compile_cache, probe
from armroot.errors import printable
from tests.fuzz.damage import JSON, VALUES, damaged_bytes

# --- the root's gcc's answer to the probe (armroot.accel.probe) ---------------------------

SEP = probe.SEPARATOR + "\n"
ARM64_CC1 = (
    " /usr/libexec/gcc/aarch64-linux-gnu/14/cc1 -E -quiet -v -imultiarch aarch64-linux-gnu "
    "/dev/null -o /dev/null -mlittle-endian -mabi=lp64 -fasynchronous-unwind-tables "
    "-dumpbase null\n"
)
ARMHF_CC1 = (
    " /usr/libexec/gcc/arm-linux-gnueabihf/14/cc1 -E -quiet -v -imultilib . -imultiarch "
    "arm-linux-gnueabihf /dev/null -o /dev/null -mfloat-abi=hard -mtls-dialect=gnu -mthumb "
    "-mlibarch=armv7-a+fp -march=armv7-a+fp -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 "
    "-dumpbase null\n"
)
REAL_ANSWERS = (
    f"aarch64-linux-gnu\n14\n{SEP}Using built-in specs.\nCOLLECT_GCC=gcc\nTarget: "
    f"aarch64-linux-gnu\ngcc version 14.2.0 (Debian 14.2.0-19)\n{ARM64_CC1}ignoring nonexistent "
    "directory\n#include <...> search starts here:\n /usr/include\nEnd of search list.\n"
    f"{SEP}#define __aarch64__ 1\n#define __SIZEOF_LONG__ 8\n#define __BYTE_ORDER__ "
    "__ORDER_LITTLE_ENDIAN__\n#define __GNUC__ 14\n"
    "#define __has_include(STR) __has_include__(STR)\n",
    f"arm-linux-gnueabihf\n12\n{SEP}gcc version 12.2.0 (Raspbian 12.2.0-14+rpi1)\n{ARMHF_CC1}"
    f"{SEP}#define __arm__ 1\n#define __ARM_ARCH 7\n#define __ARM_FP 12\n#define __thumb2__ 1\n"
    "#define __ARM_PCS_VFP 1\n#define __WCHAR_MAX__ 0xffffffffU\n#define __CHAR_UNSIGNED__ 1\n",
)
_PROBE_PIECES = st.sampled_from(
    [
        SEP,
        probe.SEPARATOR,
        "\n",
        "\r\n",
        " ",
        "\t",
        "aarch64-linux-gnu",
        "arm-linux-gnueabi",
        "14",
        "4.2.1",
        " /usr/libexec/gcc/x/14/cc1 ",
        '"/usr/bin/clang" -cc1 -triple aarch64',
        "-march=armv7-a+fp",
        "-march=armv6+nofp+fp",
        "-march=armv8-a+crypto+simd",
        "-march=+",
        "-mfpu=neon",
        "-D",
        "-U",
        "-o",
        "-imultilib",
        "#define ",
        "#define F(x) x",
        "__ARM_ARCH 7",
        "__ARM_FP 0x0c",
        "'A'",
        "12UL",
        "9" * 5000,
        "sh: 1: gcc: not found",
        "\x00",
        "\x1b[31m",
        "\u2028",
        "\x85",
        "\udcff",
        "\ufffd",
    ]
)
_NEAR_PROBE = st.lists(_PROBE_PIECES, max_size=16).map("".join)


@st.composite
def gcc_output(draw: st.DrawFn) -> str:
    """What a root's gcc (or a broken shell) could print: near the probe's grammar, a real
    answer damaged at the byte level and decoded as armroot decodes it, or anything."""
    how = draw(st.sampled_from(["near", "real", "text"]))
    if how == "near":
        return draw(_NEAR_PROBE)
    if how == "text":
        return draw(st.text(max_size=200))
    data = draw(st.data())
    blob = draw(st.sampled_from(REAL_ANSWERS)).encode()
    for _ in range(draw(st.integers(0, 3))):
        blob = damaged_bytes(data, blob)
    return blob.decode("utf-8", draw(st.sampled_from(["replace", "surrogateescape"])))


def _one_line(exc: Exception) -> str:
    """How a probe failure reaches people: in a warning, or stored as the target's problem
    (printed through log, which makes it printable): one non-empty line."""
    line = printable(str(exc))
    assert line.strip() and "\n" not in line and "\r" not in line, repr(line)
    return line


def _has_no_whitespace(word: str) -> bool:
    return bool(word) and word.split() == [word]


@given(gcc_output())
def test_the_probe_answer_parses_or_is_one_line(text: str) -> None:
    try:
        answer = probe.parse_probe(text)
    except probe.ProbeError as exc:
        _one_line(exc)
        return
    assert _has_no_whitespace(answer.triple) and _has_no_whitespace(answer.gcc_version)
    assert all(_has_no_whitespace(arg) for arg in answer.cc1_args)
    _macros_ok(answer.macros)
    try:
        flags = probe.clang_flags(answer.triple, answer.cc1_args)
    except ValueError as exc:  # setup.discover: the target's problem
        _one_line(exc)
        flags = ()
    assert all(flag.startswith("-") and _has_no_whitespace(flag) for flag in flags)
    assert not set(flags) & (probe._CC1_DROP | probe._CC1_DROP_WITH_VALUE)
    target = probe.Target(answer.triple, answer.gcc_version, flags, "key", None)
    assert probe.Target.from_dict(json.loads(json.dumps(target.to_dict()))) == target


def _macros_ok(macros: dict[str, str]) -> None:
    for name, value in macros.items():
        assert _has_no_whitespace(name) and "(" not in name, name
        assert len(value.splitlines()) <= 1 and value == value.lstrip(), value


@given(gcc_output())
def test_macros_parse_to_names_and_one_line_values_that_compare(text: str) -> None:
    macros = probe.parse_macros(text)
    _macros_ok(macros)
    again = "".join(f"#define {name} {value}\n" for name, value in macros.items())
    assert probe.parse_macros(again) == macros
    names = (*probe.ABI_MACROS, *macros)
    assert probe.compare_macros(macros, dict(macros), names) is None
    clang = probe.parse_macros(text[::-1])
    differs = probe.compare_macros(macros, clang, names)
    assert (differs is None) == (probe.compare_macros(clang, macros, names) is None)
    if differs is not None:
        assert "\n" not in printable(differs)


@given(gcc_output())
def test_sysroot_flags_are_known_flags_each_once(text: str) -> None:
    flags = probe.sysroot_flags(text)
    assert set(flags) <= set(probe.SYSROOT_FEATURES.values())
    assert len(flags) == len(set(flags))


@given(VALUES)
def test_a_stored_gcc_target_reads_back_or_is_asked_again(value: JSON) -> None:
    target = probe.Target.from_dict(value)  # type: ignore[arg-type]
    if target is not None:
        assert all(isinstance(v, str) for v in (target.triple, target.gcc_version, target.gcc_key))
        assert all(isinstance(f, str) for f in target.flags)
        assert target.problem is None or isinstance(target.problem, str)


def test_regression_a_stored_gcc_target_that_is_not_an_object_is_asked_again() -> None:
    """TypeError (string indices must be integers) from accel.setup's Target.from_dict."""
    assert probe.Target.from_dict("x") is None  # type: ignore[arg-type]
    assert probe.Target.from_dict([1]) is None  # type: ignore[arg-type]
    assert probe.Target.from_dict(None) is None  # type: ignore[arg-type]


# --- ccache's stats log (armroot.accel.compile_cache) -------------------------------------

_STATS_PIECES = st.sampled_from(
    [
        "# /src/a.c\n",
        "# /b/CMakeFiles/CMakeScratch/TryCompile-x/src.c\n",
        "# conftest.c\n",
        "#\n",
        "#",
        "direct_cache_hit\n",
        "preprocessed_cache_hit\n",
        "cache_miss\n",
        "called_for_link\n",
        "  cache_miss  \n",
        "\n",
        "\r\n",
        "\u2028",
        "\x00",
        " ",
    ]
)


@st.composite
def stats_log(draw: st.DrawFn) -> str:
    how = draw(st.sampled_from(["near", "bytes", "text"]))
    if how == "near":
        return "".join(draw(st.lists(_STATS_PIECES, max_size=20)))
    if how == "bytes":  # read with errors="replace" (commands/build.py)
        return draw(st.binary(max_size=200)).decode("utf-8", "replace")
    return draw(st.text(max_size=200))


@given(stats_log())
def test_the_stats_log_counts_each_compile_once(text: str) -> None:
    stats = compile_cache.parse_stats_log(text)
    assert all(type(n) is int and n >= 0 for n in stats)
    assert sum(stats) == sum(1 for line in text.splitlines() if line.startswith("#"))
    assert 0.0 <= stats.hit_rate <= 1.0
    line = stats.line()
    assert line.isprintable() and line.startswith("compiler cache: ")
