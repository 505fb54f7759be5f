from __future__ import annotations

import os
from pathlib import Path

from armroot.rootfs import pacman
from armroot.sandbox.ops import Bind, Proc, Symlink, Tmpfs
from armroot.session.plan import HOST_CA_INSIDE, PACMAN_WRAPPER, PlanInputs, UserBind, plan


def _inputs(**kw: object) -> PlanInputs:
    return PlanInputs(root="/store/envs/pi/rootfs", argv=("true",), **kw)  # type: ignore[arg-type]


def test_mounts_come_in_a_safe_order() -> None:
    spec = plan(_inputs())
    targets = [op.target for op in spec.ops]
    assert targets.index("/proc") < targets.index("/dev") < targets.index("/dev/null")
    assert targets.index("/dev") < targets.index("/dev/pts") < targets.index("/dev/ptmx")
    # /run is a tmpfs before resolv.conf, which may resolve into /run.
    assert targets.index("/run") < targets.index("/etc/resolv.conf")
    assert isinstance(spec.ops[0], Proc)


def test_devices_are_bound_one_by_one_on_a_tmpfs() -> None:
    spec = plan(_inputs())
    dev = [op for op in spec.ops if isinstance(op, Tmpfs) and op.target == "/dev"]
    assert dev and not dev[0].nodev
    bound = {
        op.target
        for op in spec.ops
        if isinstance(op, Bind) and op.source.startswith("/dev/") and op.target.startswith("/dev/")
    }
    assert bound == {f"/dev/{d}" for d in ("null", "zero", "full", "random", "urandom", "tty")}
    links = {op.target: op.link_to for op in spec.ops if isinstance(op, Symlink)}
    assert links["/dev/fd"] == "/proc/self/fd" and links["/etc/mtab"] == "/proc/self/mounts"


def test_ld_so_preload_is_hidden_for_the_session_only() -> None:
    spec = plan(_inputs())
    preload = [op for op in spec.ops if isinstance(op, Bind) and op.target == "/etc/ld.so.preload"]
    assert preload == [
        Bind(
            "/dev/null",
            "/etc/ld.so.preload",
            readonly=True,
            recursive=False,
            only_if_target_exists=True,
            optional=True,
        )
    ]


def test_host_ca_binds_the_bundle_and_sets_variables() -> None:
    spec = plan(_inputs(host_ca_bundle="/etc/ssl/certs/ca-certificates.crt"))
    env = dict(spec.env)
    assert env["SSL_CERT_FILE"] == HOST_CA_INSIDE and env["CURL_CA_BUNDLE"] == HOST_CA_INSIDE
    binds = [op for op in spec.ops if isinstance(op, Bind) and op.target == HOST_CA_INSIDE]
    assert binds and binds[0].readonly


def test_without_host_ca_no_ca_variables() -> None:
    env = dict(plan(_inputs()).env)
    assert "SSL_CERT_FILE" not in env and env["PATH"].startswith("/usr/local/sbin")


def test_user_binds_come_last_and_env_overrides() -> None:
    spec = plan(
        _inputs(binds=(UserBind("/home/u/src", "/src"),), env=(("PATH", "/x"),), qemu_cpu="arm1176")
    )
    assert spec.ops[-1] == Bind("/home/u/src", "/src", readonly=False)
    env = dict(spec.env)
    assert env["PATH"] == "/x" and env["QEMU_CPU"] == "arm1176"


def test_qemu_interpreter_bound_read_only_when_needed() -> None:
    spec = plan(_inputs(qemu_binds=("/usr/bin/qemu-arm-static",)))
    assert (
        Bind("/usr/bin/qemu-arm-static", "/usr/bin/qemu-arm-static", readonly=True, recursive=False)
        in spec.ops
    )


def test_pacman_7_gets_a_session_wrapper_first_on_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/lib/aarch64-linux-gnu").mkdir(parents=True)
    assert not pacman.sandboxes_downloads(str(root))  # no pacman at all
    (root / "usr/bin/pacman").touch()
    (root / "usr/lib/aarch64-linux-gnu/libalpm.so.13.0.2").touch()  # pacman 6.0
    assert pacman.libalpm_version(str(root)) == 13 and not pacman.sandboxes_downloads(str(root))
    (root / "usr/lib/libalpm.so.16").symlink_to("libalpm.so.16.0.1")  # pacman 7.1, Arch's place
    assert pacman.libalpm_version(str(root)) == 16 and pacman.sandboxes_downloads(str(root))
    spec = plan(PlanInputs(root=str(root), argv=("pacman", "-Syu"), pacman_wrapper=True))
    wrapper = [op for op in spec.ops if isinstance(op, Bind) and op.target.endswith("/pacman")]
    assert wrapper == [Bind(PACMAN_WRAPPER, "/run/armroot/pacman/pacman", readonly=True,
                            recursive=False)]  # fmt: skip
    assert dict(spec.env)["PATH"].startswith("/run/armroot/pacman:/usr/local/sbin:")
    text = Path(PACMAN_WRAPPER).read_text()
    assert '\n/usr/bin/pacman --disable-sandbox "$@"\nstatus=$?\n' in text
    assert os.access(PACMAN_WRAPPER, os.X_OK)
    plain = plan(PlanInputs(root=str(root), argv=("true",)))
    assert "/run/armroot/pacman" not in dict(plain.env)["PATH"]
