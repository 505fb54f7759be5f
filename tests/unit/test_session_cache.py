"""The session cache and request: records without `typing`, plain ops, the record file, which
requests the cache serves, and what a request becomes."""

from __future__ import annotations

import marshal
import os
import pickle
from pathlib import Path

import pytest

from armroot.errors import UsageError
from armroot.sandbox.ops import (
    Bind,
    Devpts,
    File,
    Proc,
    Symlink,
    Sysfs,
    Tmpfs,
    from_plain,
    to_plain,
)
from armroot.session import cache
from armroot.session.inputs import EnvInputs, plan_inputs, shell_argv
from armroot.session.plan import UserBind
from armroot.session.request import Request
from armroot.store.names import check_name
from armroot.tuples import NamedTuple


class Point(NamedTuple):
    """A point."""

    x: int
    label: str = "p"

    def doubled(self) -> int:
        return self.x * 2


def test_a_record_is_a_named_tuple_with_defaults_methods_and_docstring() -> None:
    p = Point(2)
    assert p == (2, "p") and p.label == "p" and p.doubled() == 4
    assert p._replace(label="q") == Point(2, "q")
    assert Point._fields == ("x", "label")
    assert isinstance(p, Point) and isinstance(p, tuple)
    assert Point.__doc__ == "A point." and Point.__module__ == __name__
    assert repr(p) == "Point(x=2, label='p')"
    assert p._asdict() == {"x": 2, "label": "p"} and Point._make([3, "q"]) == (3, "q")
    assert Point(label="k", x=1) == (1, "k") and hash(p) == hash((2, "p"))
    assert pickle.loads(pickle.dumps(p)) == p
    match p:
        case Point(x, label):
            assert (x, label) == (2, "p")
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, "a", "extra")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, x=2)  # type: ignore[misc]


def test_a_record_refuses_a_field_without_a_default_after_one_with() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        class Bad(NamedTuple):
            a: int = 1
            b: int  # type: ignore[misc]


def test_ops_survive_marshal_as_plain_data() -> None:
    ops = (
        Proc(),
        Sysfs(),
        Tmpfs("/dev", mode=0o755, nodev=False, options="size=4m"),
        Devpts(),
        Bind("/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-aarch64-static", readonly=True),
        Symlink("pts/ptmx", "/dev/ptmx"),
        File("/run/x", "text\n", 0o600),
    )
    assert from_plain(marshal.loads(marshal.dumps(to_plain(ops)))) == ops


@pytest.mark.parametrize(
    "name", ["pi", "a.b_c-1", "x" * 63, "x" * 64, "-x", ".x", "a/b", "ü", "", "pi\n", "p i"]
)
def test_env_names_are_letters_digits_dot_underscore_dash_up_to_63(name: str) -> None:
    import re

    valid = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", name) is not None
    try:
        check_name(name)
        accepted = True
    except UsageError:
        accepted = False
    assert accepted == valid


def _env(tmp_path: Path) -> tuple[str, EnvInputs]:
    env_dir = tmp_path / "envs" / "pi"
    root = env_dir / "rootfs"
    for d in ("usr/bin", "usr/share", "etc/alternatives"):
        (root / d).mkdir(parents=True)
    (env_dir / "armroot.json").write_text("{}")
    tool = tmp_path / "toolchain"
    tool.mkdir()
    inputs = EnvInputs(
        str(root),
        "cortex-a72",
        (),
        (("CC", "/run/armroot/accel/bin/cc"),),
        (Bind(str(tool), "/run/armroot/accel/zig", readonly=True),),
    )
    return str(env_dir), inputs


def _save(env_dir: str, inputs: EnvInputs) -> None:
    cache.save(env_dir, "auto", cache.base_fingerprint(env_dir, inputs.root), inputs)


def test_a_record_is_used_while_nothing_it_came_from_changes(tmp_path: Path) -> None:
    env_dir, inputs = _env(tmp_path)
    assert cache.load(env_dir, "auto") is None
    _save(env_dir, inputs)
    assert cache.load(env_dir, "auto") == inputs
    assert cache.load(env_dir, "none") is None  # the --no-accel plan is another record
    written = os.stat(cache.record_path(env_dir, "auto")).st_ino
    _save(env_dir, inputs)  # the same record again: the file is left as it is
    assert os.stat(cache.record_path(env_dir, "auto")).st_ino == written
    _save(env_dir, inputs._replace(qemu_cpu="cortex-a53"))  # another one replaces it
    assert os.stat(cache.record_path(env_dir, "auto")).st_ino != written
    assert cache.load(env_dir, "auto") == inputs._replace(qemu_cpu="cortex-a53")


@pytest.mark.parametrize(
    "change",
    [
        "meta",
        "usr/bin entry",
        "alternatives",
        "gcc",
        "packages",
        "bound toolchain",
        "binfmt handler",
        "setting",
        "damaged",
        "writable by others",
    ],
)
def test_a_record_is_not_used_once_what_it_came_from_changed(
    tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir, inputs = _env(tmp_path)
    binfmt = tmp_path / "binfmt_misc"  # stands in for /proc/sys/fs/binfmt_misc
    binfmt.mkdir()
    (binfmt / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt\n")
    monkeypatch.setattr(cache, "BINFMT_DIR", str(binfmt))
    root = Path(inputs.root)
    (root / "usr/bin/gcc-14").write_text("x")
    os.symlink("gcc-14", root / "usr/bin/gcc")
    _save(env_dir, inputs)
    assert cache.load(env_dir, "auto") == inputs
    if change == "meta":
        (Path(env_dir) / "armroot.json").write_text('{"board": "pi4"}')
    elif change == "usr/bin entry":
        (root / "usr/bin/cc").write_text("")
    elif change == "alternatives":
        os.symlink("/usr/bin/gcc", root / "etc/alternatives/cc")
    elif change == "gcc":  # rewritten in place: the file the link leads to is what counts
        (root / "usr/bin/gcc-14").write_text("a longer compiler")
    elif change == "packages":  # which cmake the root has, for the native cmake
        (root / "var/lib/dpkg").mkdir(parents=True)
        (root / "var/lib/dpkg/status").write_text("Package: cmake\n")
    elif change == "bound toolchain":
        os.rmdir(tmp_path / "toolchain")
    elif change == "binfmt handler":  # the F flag set: QEMU no longer bound
        (binfmt / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/q\nflags: F\n")
    elif change == "setting":
        monkeypatch.setenv("ARMROOT_NATIVE_CMAKE", "0")
    elif change == "damaged":
        Path(cache.record_path(env_dir, "auto")).write_bytes(b"\x00garbage")
    elif change == "writable by others":
        os.chmod(cache.record_path(env_dir, "auto"), 0o666)
    assert cache.load(env_dir, "auto") is None


def test_a_symlink_loop_in_the_root_is_part_of_the_fingerprint_not_an_error(
    tmp_path: Path,
) -> None:
    env_dir, inputs = _env(tmp_path)
    alternatives = Path(inputs.root) / "etc/alternatives"
    alternatives.rmdir()
    os.symlink("/etc/alternatives", alternatives)  # points at itself inside the root
    _save(env_dir, inputs)
    assert cache.load(env_dir, "auto") == inputs


@pytest.mark.parametrize("directory", [True, False])
def test_a_mount_point_another_session_made_a_moment_ago_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directory: bool
) -> None:
    """Two sessions starting at once in one env create the same new mount point (a --bind
    target): the second sees EEXIST and checks what is there instead of failing."""
    from armroot.sandbox import apply

    root = tmp_path / "root"
    root.mkdir()
    real_mkdir, real_open = os.mkdir, os.open

    def mkdir_beaten(path: str, mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        raise FileExistsError(17, "File exists", path)

    def open_beaten(path: str, flags: int, mode: int = 0o777) -> int:
        os.close(real_open(path, flags, mode))
        raise FileExistsError(17, "File exists", path)

    monkeypatch.setattr(os, "mkdir", mkdir_beaten)  # the os module apply uses
    monkeypatch.setattr(os, "open", open_beaten)
    target = str(root / "deep" / "mark")
    apply._ensure_mount_point(str(root), target, directory=directory)
    assert (root / "deep").is_dir()
    assert Path(target).is_dir() if directory else Path(target).is_file()


def test_the_cache_serves_the_host_s_root_planning_a_plain_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from armroot import log
    from armroot.host import privileges

    monkeypatch.setattr(privileges, "is_host_root", lambda: True)
    monkeypatch.delenv("ARMROOT_QUICK", raising=False)
    plain = Request("pi", ("true",))
    assert cache.usable_for(plain)
    assert cache.usable_for(plain._replace(ephemeral=True, capture=True, accel="none"))
    assert not cache.usable_for(plain._replace(board="pi4"))  # another target than the env's
    assert not cache.usable_for(plain._replace(exclusive_for="change packages in"))
    monkeypatch.setenv("ARMROOT_QUICK", "0")
    assert not cache.usable_for(plain)
    monkeypatch.delenv("ARMROOT_QUICK")
    token = log.VERBOSITY.set(log.Verbosity.VERBOSE)  # the shim's config says whether to echo
    try:
        assert not cache.usable_for(plain)
    finally:
        log.VERBOSITY.reset(token)
    monkeypatch.setattr(privileges, "is_host_root", lambda: False)  # rootless
    assert not cache.usable_for(plain)


def test_a_request_becomes_plan_inputs_read_fresh(tmp_path: Path) -> None:
    _, inputs = _env(tmp_path)
    (tmp_path / "src").mkdir()
    request = Request(
        "pi",
        ("make", "-j2"),
        binds=(f"{tmp_path / 'src'}:/src",),
        workdir="/src",
        env=("A=1",),
    )
    planned = plan_inputs(inputs, request)
    assert planned.argv == ("make", "-j2") and planned.workdir == "/src"
    assert planned.binds == (UserBind(str(tmp_path / "src"), "/src"),)
    # The env's part first, then the request's, then the env's name.
    assert planned.env == (("CC", "/run/armroot/accel/bin/cc"), ("A", "1"), ("ARMROOT_ENV", "pi"))
    assert planned.extra_ops == inputs.accel_ops and planned.qemu_cpu == "cortex-a72"
    # Without --workdir: /root when the root has one, else /.
    assert plan_inputs(inputs, Request("pi", ("true",))).workdir == "/"
    (Path(inputs.root) / "root").mkdir()
    assert plan_inputs(inputs, Request("pi", ("true",))).workdir == "/root"
    with pytest.raises(UsageError, match="must be an absolute path"):
        plan_inputs(inputs, request._replace(workdir="src"))
    with pytest.raises(UsageError, match="is not KEY=VALUE"):
        plan_inputs(inputs, request._replace(env=("A",)))


def test_a_shell_is_the_root_s_bash_or_else_its_sh(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    assert shell_argv(str(root)) == ("/bin/sh", "-l")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/bash").write_text("")
    os.symlink("/usr/bin/bash", root / "bin/bash")  # resolved inside the root
    assert shell_argv(str(root)) == ("/bin/bash", "-l")
