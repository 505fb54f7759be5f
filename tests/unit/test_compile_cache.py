"""The compiler cache's pure parts: how a session gets ccache in front of its compilers, what
names a compiler identity, and one build's hit/miss figures from ccache's stats log."""

from __future__ import annotations

from pathlib import Path

from armroot.accel import compile_cache
from armroot.accel.layout import BIN_INSIDE, CCACHE_BIN_INSIDE, CCACHE_DIR_INSIDE
from armroot.accel.mounts import SessionAccel
from armroot.sandbox.ops import Bind, Symlink
from armroot.session.inputs import EnvInputs, plan_inputs
from armroot.session.request import Request

CLANG = SessionAccel(
    (Bind("/zig", "/run/armroot/zig", readonly=True),),
    (("AR", f"{BIN_INSIDE}/ar"), ("CC", f"{BIN_INSIDE}/cc"), ("PATH", f"{BIN_INSIDE}:/usr/bin")),
)


def test_the_cache_goes_first_on_path_and_cc_names_its_link() -> None:
    cached = compile_cache.layer(CLANG, "/venv/bin/ccache", "/cache/ccache/x", "clang-1", ("cc",))
    env = dict(cached.env)
    assert env["PATH"] == f"{CCACHE_BIN_INSIDE}:{BIN_INSIDE}:/usr/bin"
    assert env["CC"] == f"{CCACHE_BIN_INSIDE}/cc"  # the shim is found next on PATH
    assert env["AR"] == f"{BIN_INSIDE}/ar"  # not a compiler: untouched
    assert env["CCACHE_DIR"] == CCACHE_DIR_INSIDE
    assert env["CCACHE_COMPILERCHECK"] == "string:clang-1"
    assert cached.ops[0] == CLANG.ops[0]
    assert Bind("/cache/ccache/x", CCACHE_DIR_INSIDE, optional=True) in cached.ops
    assert Symlink("../ccache", f"{CCACHE_BIN_INSIDE}/cc") in cached.ops
    assert cached.user_namespace == CLANG.user_namespace


def test_twins_have_no_path_of_their_own_so_the_default_follows_the_cache() -> None:
    twins = SessionAccel((), (), user_namespace=True)
    cached = compile_cache.layer(twins, "/c", "/d", "twins-1", ("gcc", "g++"))
    path = dict(cached.env)["PATH"]
    assert path.startswith(f"{CCACHE_BIN_INSIDE}:") and path.endswith("/usr/bin:/sbin:/bin")
    assert "CC" not in dict(cached.env) and cached.user_namespace


def test_an_identity_changes_with_any_of_its_parts_and_says_its_kind() -> None:
    one = compile_cache.identity("clang", ("shim-1", "aarch64-linux-gnu", "-mcpu=cortex-a72"))
    assert one == compile_cache.identity(
        "clang", ("shim-1", "aarch64-linux-gnu", "-mcpu=cortex-a72")
    )
    assert one.startswith("clang-")
    assert one != compile_cache.identity("clang", ("shim-1", "aarch64-linux-gnu", "-mcpu=a53"))
    assert one != compile_cache.identity("twins", ("shim-1", "aarch64-linux-gnu", "-mcpu=a72"))
    # parts are separated: moving a boundary is another identity
    assert compile_cache.identity("x", ("ab", "c")) != compile_cache.identity("x", ("a", "bc"))


def test_compiler_names_cover_the_generic_versioned_and_triplet_drivers() -> None:
    names = compile_cache.compiler_names("arm-linux-gnueabihf", "14")
    assert names[:5] == (
        "cc",
        "gcc",
        "gcc-14",
        "arm-linux-gnueabihf-gcc",
        "arm-linux-gnueabihf-gcc-14",
    )
    assert "c++" in names and "arm-linux-gnueabihf-g++-14" in names


def _env(cached: bool) -> EnvInputs:
    accel_env = (("CCACHE_DIR", CCACHE_DIR_INSIDE),) if cached else ()
    return EnvInputs("/", None, (), accel_env)


def test_no_cache_and_the_stats_log_reach_only_a_session_that_has_the_cache() -> None:
    off = Request("pi", ("make",), compile_cache=False, cache_stats="/build/log")
    env = dict(plan_inputs(_env(True), off).env)
    assert env["CCACHE_DISABLE"] == "1" and env["CCACHE_STATSLOG"] == "/build/log"
    on = dict(plan_inputs(_env(True), Request("pi", ("make",))).env)
    assert "CCACHE_DISABLE" not in on and "CCACHE_STATSLOG" not in on
    plain = dict(plan_inputs(_env(False), off).env)  # no accel: nothing about a cache
    assert "CCACHE_DISABLE" not in plain and "CCACHE_STATSLOG" not in plain
    # the user's own --env still wins
    mine = Request("pi", ("make",), env=("CCACHE_DISABLE=0",), compile_cache=False)
    assert dict(plan_inputs(_env(True), mine).env)["CCACHE_DISABLE"] == "0"


STATS_LOG = """\
# /src/a.c
cache_miss
direct_cache_miss
local_storage_write
preprocessed_cache_miss
# /src/b.c
direct_cache_hit
local_storage_hit
# /src/c.c
preprocessed_cache_hit
direct_cache_miss
# a.o
called_for_link
#
no_input_file
# /build/CMakeFiles/CMakeScratch/TryCompile-abc/src.c
cache_miss
# /build/conftest.c
cache_miss
"""


def test_the_stats_log_counts_each_invocation_once() -> None:
    stats = compile_cache.parse_stats_log(STATS_LOG)
    assert stats == compile_cache.Stats(hits=2, misses=1, uncached=2, probes=2)
    assert stats.line() == (
        "compiler cache: 2 hits, 1 miss (67% hit); 2 not cacheable, 2 configure checks"
    )
    assert compile_cache.parse_stats_log("").line().startswith("compiler cache: no cacheable")
    assert compile_cache.parse_stats_log("stray\n# x\ncache_miss\n").misses == 1


def test_clean_empties_each_cache_but_keeps_it_and_follows_no_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"x" * 10)
    one = tmp_path / "cache" / "ccache" / "clang-1"
    (one / "a" / "b").mkdir(parents=True)
    (one / "a" / "b" / "obj").write_bytes(b"y" * 100)
    (one / "ccache.conf").write_text("max_size = 1G\n")
    (one / "link").symlink_to(outside)
    freed = compile_cache.clean(tmp_path / "cache")
    assert one.is_dir() and list(one.iterdir()) == []
    assert freed >= 100 + len("max_size = 1G\n")
    assert (outside / "keep").read_bytes() == b"x" * 10
    assert compile_cache.clean(tmp_path / "nothing") == 0
