"""The twin compilers a distributed build names and a helper serves (pure): which of a twin
set's drivers distribute and by what name, the handler's per-request file, a distributing
twins session's links and PATH, and the helper's scripts."""

from __future__ import annotations

import shlex

import pytest

from armroot.accel.layout import TWIN_BIN_INSIDE, TWIN_DISTRIBUTE_INSIDE
from armroot.sandbox.ops import File, Symlink
from armroot.session.plan import Distribute, PlanInputs, environment, mounts
from armroot.twins import distributed as twin_compilers
from armroot.twins.prepare import TwinSet
from armroot.twins.table import Program

T = "aarch64-linux-gnu"


def _set(*, g_plus_plus: bool = True, cc1plus: bool = True, as_: bool = True) -> TwinSet:
    def p(root: str, bid: str, driver: bool = False, offload: str = "") -> Program:
        return Program(bid, root, f"trees/{bid * 4}/{root}", "pkg", driver, offload, 100)

    programs = [
        p(f"usr/bin/{T}-gcc-14", "aa", True, "args"),
        p(f"usr/bin/{T}-cpp-14", "ab", True),
        p(f"usr/libexec/gcc/{T}/14/cc1", "ac"),
        p("usr/bin/make", "ad"),
    ]
    if g_plus_plus:
        programs.append(p(f"usr/bin/{T}-g++-14", "ba", True, "link"))
    if cc1plus:
        programs.append(p(f"usr/libexec/gcc/{T}/14/cc1plus", "bb"))
    if as_:
        programs.append(p(f"usr/bin/{T}-as", "bc"))
    return TwinSet("k", "trees/l/ld.so", "sets/k/lib", tuple(programs), (), "", True)


def test_the_gcc_and_g_plus_plus_drivers_distribute_by_a_name_of_all_they_run() -> None:
    found = twin_compilers.of(_set())
    assert [(c.shown, c.language) for c in found] == [(f"{T}-g++-14", "c++"), (f"{T}-gcc-14", "c")]
    gpp, gcc = found
    assert gcc.name.startswith("armroot-gcc-") and gpp.name.startswith("armroot-g++-")
    assert [t for t, _ in gcc.parts] == ["cc1", "cc1plus", "as"] and gcc.offload
    # Another cc1 (another version or build) is another name; cpp and make never distribute.
    other = _set()._replace(
        programs=tuple(
            p._replace(build_id="ff") if p.root_path.endswith("/cc1") else p
            for p in _set().programs
        )
    )
    assert {c.name for c in twin_compilers.of(other)}.isdisjoint({c.name for c in found})
    assert twin_compilers.of(_set()) == found  # the same set, the same names


def test_a_driver_without_its_compiler_proper_or_assembler_twin_does_not_distribute() -> None:
    assert [c.shown for c in twin_compilers.of(_set(cc1plus=False))] == [f"{T}-gcc-14"]
    assert twin_compilers.of(_set(as_=False)) == ()
    assert [c.shown for c in twin_compilers.of(_set(g_plus_plus=False))] == [f"{T}-gcc-14"]


def test_the_handlers_file_names_each_driver_and_what_keeps_a_compile_here() -> None:
    text = twin_compilers.handler_lines((("aa", "armroot-gcc-1", f"{T}-gcc-14"),), ("/d",))
    lines = text.splitlines()
    assert lines[0] == f"distribute\taa\tarmroot-gcc-1\t{T}-gcc-14\t/d"
    assert "local-exact\t-E" in lines and "local-prefix\t-l" in lines
    assert "local-prefix\t-fplugin" in lines and "local-suffix\t=native" in lines
    with pytest.raises(ValueError):
        twin_compilers.handler_lines((("a\nb", "n", "s"),), ())


def test_a_distributing_twins_session_links_the_names_to_the_roots_drivers() -> None:
    twins = (("aa", "armroot-gcc-1", f"{T}-gcc-14", f"usr/bin/{T}-gcc-14"),)
    d = Distribute("", ("10.0.0.5:3632/2", "localhost/1"), "/usr/bin/distcc", "/lib", (), twins)
    inputs = PlanInputs(root="/r", argv=("make",), env=(("PATH", "/usr/bin"),), distribute=d)
    ops = mounts(inputs)
    assert Symlink(f"/usr/bin/{T}-gcc-14", f"{TWIN_BIN_INSIDE}/armroot-gcc-1") in ops
    table = next(op for op in ops if isinstance(op, File) and op.target == TWIN_DISTRIBUTE_INSIDE)
    assert table.content.startswith(f"distribute\taa\tarmroot-gcc-1\t{T}-gcc-14\t/run/armroot/")
    assert not any(isinstance(op, File) and op.target.endswith("accel/distribute") for op in ops)
    assert dict(environment(inputs))["PATH"] == f"/usr/bin:{TWIN_BIN_INSIDE}"


def test_the_helpers_scripts_run_each_twin_under_its_loader_and_nothing_of_the_helpers() -> None:
    gcc = next(c for c in twin_compilers.of(_set()) if c.language == "c")
    at = twin_compilers.HelperPaths("/c", "/c/ld.so", "/c/lib", "/c/x.specs", "/h/nowhere")
    scripts = twin_compilers.scripts(gcc, at, "/h/tools")
    assert sorted(scripts) == sorted([gcc.name, "/h/tools/cc1", "/h/tools/cc1plus", "/h/tools/as"])
    shebang, refuse, export, run = scripts[gcc.name].splitlines()
    assert shebang == "#!/bin/sh"
    assert refuse.startswith('for a in "$@"; do case $a in -wrapper|-fplugin*|')
    # Its own search paths lead to an empty directory: only the programs given to it run.
    assert shlex.split(export) == ["export", "GCC_EXEC_PREFIX=/h/nowhere/"]
    assert shlex.split(run) == [
        "exec", "/c/ld.so", "--inhibit-cache", "--library-path", "/c/lib", "--argv0",
        f"{T}-gcc-14", f"/c/{gcc.driver.twin_path}", "-specs=/c/x.specs", "-B/h/tools/", "$@",
    ]  # fmt: skip
    assert run.endswith(' "$@"')  # the arguments as given, each one word
    shebang, run = scripts["/h/tools/cc1"].splitlines()
    cc1 = dict(gcc.parts)["cc1"]
    assert shlex.split(run) == [
        "exec", "/c/ld.so", "--inhibit-cache", "--library-path", "/c/lib", "--argv0", "$0",
        f"/c/{cc1.twin_path}", "$@",
    ]  # fmt: skip
