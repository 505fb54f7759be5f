"""Distributed compiles, the pure parts: helper addresses, what a session gets to send its
compiles through distcc, the helper's compiler configuration, armroot.toml's [distribute]."""

from __future__ import annotations

import pytest

from armroot.accel import shim, toolchain
from armroot.accel.layout import DISTCC_EXE_INSIDE, DISTCC_LIB_INSIDE, DISTRIBUTE_INSIDE
from armroot.build import config
from armroot.commands.build import _distributable
from armroot.distribute import hosts
from armroot.errors import UsageError
from armroot.sandbox.ops import Bind, File
from armroot.session.plan import Distribute, PlanInputs, environment, mounts


def test_helper_addresses_with_port_and_jobs() -> None:
    assert hosts.parse("10.0.0.5") == hosts.Host("10.0.0.5", 3632, None)
    assert hosts.parse("10.0.0.5:4000/8") == hosts.Host("10.0.0.5", 4000, 8)
    assert hosts.parse("build-1.lan/3") == hosts.Host("build-1.lan", 3632, 3)
    assert hosts.parse("[fd00::5]:3700").label == "[fd00::5]:3700"
    assert hosts.parse_many(["10.0.0.5,10.0.0.6", "10.0.0.5 10.0.0.7"]) == (
        hosts.Host("10.0.0.5"),
        hosts.Host("10.0.0.6"),
        hosts.Host("10.0.0.7"),
    )


@pytest.mark.parametrize(
    "text", ["", "10.0.0.5:", "10.0.0.5:0", "10.0.0.5:65535", "a b", "h/0", "[zz::1]", "x;rm"]
)
def test_a_bad_helper_address_is_one_line_saying_how_to_write_it(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        hosts.parse(text)
    assert "HOST[:PORT][/JOBS]" in caught.value.hint


def test_distcc_hosts_from_the_environment_take_only_plain_helpers() -> None:
    assert hosts.from_distcc_hosts("10.0.0.5/4 10.0.0.6") == (
        (hosts.Host("10.0.0.5", jobs=4), hosts.Host("10.0.0.6")),
        (),
    )
    found, skipped = hosts.from_distcc_hosts(
        "localhost 10.0.0.5 @ssh-host 10.0.0.6,lzo --randomize"
    )
    assert found == (hosts.Host("10.0.0.5"),)
    assert skipped == ("localhost", "@ssh-host", "10.0.0.6,lzo", "--randomize")


def test_the_same_helper_twice_is_one_helper_with_the_jobs_given() -> None:
    assert hosts.parse_many(["10.0.0.5", "10.0.0.5:3632/4", "10.0.0.5:4000"]) == (
        hosts.Host("10.0.0.5", 3632, 4),
        hosts.Host("10.0.0.5", 4000),
    )


def test_distcc_hosts_lists_the_helpers_then_this_machine() -> None:
    helpers = [(hosts.Host("10.0.0.5"), 4), (hosts.Host("10.0.0.6", 4000), 2)]
    assert hosts.distcc_hosts(helpers, 1) == (
        "10.0.0.5:3632/4",
        "10.0.0.6:4000/2",
        "localhost/1",
    )


DIST = Distribute(
    "armroot-clang-0123", ("10.0.0.5:3632/2", "localhost/1"), "/usr/bin/distcc", "/lib"
)


def test_a_distributed_session_gets_distcc_by_the_hosts_loader_and_the_shims_line() -> None:
    inputs = PlanInputs(root="/r", argv=("make",), distribute=DIST)
    ops = mounts(inputs)
    assert Bind("/lib", DISTCC_LIB_INSIDE, readonly=True) in ops
    assert Bind("/usr/bin/distcc", DISTCC_EXE_INSIDE, readonly=True, recursive=False) in ops
    line = next(op for op in ops if isinstance(op, File) and op.target == DISTRIBUTE_INSIDE)
    words = line.content.rstrip("\n").split("\t")
    assert words[:2] == ["distribute", "armroot-clang-0123"]
    assert words[2:] == [
        f"{DISTCC_LIB_INSIDE}/ld-linux-x86-64.so.2",
        "--library-path",
        DISTCC_LIB_INSIDE,
        DISTCC_EXE_INSIDE,
    ]
    env = dict(environment(inputs))
    assert env["DISTCC_HOSTS"] == "10.0.0.5:3632/2 localhost/1"
    assert env["DISTCC_DIR"].startswith("/run/armroot/")  # never the env's /root/.distcc
    plain = PlanInputs(root="/r", argv=("make",))
    assert not any(isinstance(op, File) for op in mounts(plain))
    assert "DISTCC_HOSTS" not in dict(environment(plain))


def test_the_users_distcc_settings_reach_the_session_but_not_over_armroots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from armroot.session.inputs import EnvInputs, plan_inputs
    from armroot.session.request import Request

    for name, value in (
        ("DISTCC_IO_TIMEOUT", "30"),
        ("DISTCC_HOSTS", "elsewhere"),
        ("DISTCC_DIR", "/root/.distcc"),
        ("DISTCC_FALLBACK", "0"),
        ("DISTCC_SKIP_LOCAL_RETRY", "1"),
    ):
        monkeypatch.setenv(name, value)
    env = EnvInputs("/r", None, (), distribute_as="armroot-clang-0123")
    inputs = plan_inputs(env, Request("pi", ("make",), distribute=("10.0.0.5:3632/2",)))
    assert inputs.distribute is not None
    assert inputs.distribute.environ == (("DISTCC_IO_TIMEOUT", "30"),)
    session = dict(environment(inputs))
    assert session["DISTCC_HOSTS"] == "10.0.0.5:3632/2"
    assert session["DISTCC_DIR"].startswith("/run/armroot/")
    assert "DISTCC_FALLBACK" not in session and "DISTCC_SKIP_LOCAL_RETRY" not in session


def test_a_helper_runs_the_named_compiler_as_its_bare_zig_clang() -> None:
    text = shim.helper_config("/venv/ziglang/zig", "armroot-clang-0123")
    assert text.splitlines() == [
        "verbose\t0",
        "tool\tarmroot-clang-0123\traw\t-",
        "kind\traw\t/venv/ziglang/zig\tclang",
    ]
    assert toolchain.distributed_name("ab" * 32) == "armroot-clang-abababababababab"
    with pytest.raises(ValueError):
        shim.helper_config("/a\tb/zig", "x")


def test_the_zig_digest_is_kept_and_a_replaced_zig_is_hashed_anew(tmp_path: object) -> None:
    import hashlib
    import os
    from pathlib import Path

    base = Path(str(tmp_path))
    zig = base / "zig"
    zig.write_bytes(b"zig 1")
    first = toolchain.zig_digest(str(zig), base / "cache")
    assert first == hashlib.sha256(b"zig 1").hexdigest()
    kept = list((base / "cache" / "accel").glob("zig-*.sha256"))
    assert len(kept) == 1
    kept[0].write_text("f" * 64 + "\n")  # the kept digest is what a second call answers
    assert toolchain.zig_digest(str(zig), base / "cache") == "f" * 64
    st = os.stat(zig)
    other = base / "zig.new"
    other.write_bytes(b"zig 2")  # the same size and mtime, another file
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, zig)
    assert toolchain.zig_digest(str(zig), base / "cache") == hashlib.sha256(b"zig 2").hexdigest()


def test_armroot_toml_names_the_helpers() -> None:
    parsed = config.parse('[distribute]\nhosts = ["10.0.0.5", "10.0.0.6:4000/8"]\n')
    assert parsed.distribute == ("10.0.0.5", "10.0.0.6:4000/8")
    with pytest.raises(UsageError, match="unknown key 'host'"):
        config.parse('[distribute]\nhost = "10.0.0.5"\n')
    with pytest.raises(UsageError, match="must be a list of strings"):
        config.parse("[distribute]\nhosts = 5\n")


def test_the_native_compilers_distribute_and_emulated_ones_do_not() -> None:
    for mode in ("auto", "clang", "twins"):
        _distributable(mode)  # no error
    with pytest.raises(UsageError, match="emulated"):
        _distributable("none")


DRIVER = (
    ' "/zig" "-cc1" "-triple" "aarch64-unknown-linux-gnu" "-target-cpu" "generic"'
    ' "-target-feature" "+v8a" "-target-feature" "+outline-atomics" "-O2"'
)


def test_the_sysroots_outline_atomics_become_a_flag_a_helper_gets_too() -> None:
    from armroot.accel import probe

    assert probe.sysroot_flags(DRIVER) == ("-moutline-atomics",)
    assert probe.sysroot_flags(DRIVER.replace("+outline-atomics", "+neon")) == ()
