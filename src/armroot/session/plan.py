"""Plan a session: which mounts a root needs and what environment the command gets. Pure.
Light (see :mod:`armroot.session`).

The result is a :class:`~armroot.sandbox.ops.SessionSpec`; :mod:`armroot.sandbox.session`
carries it out.
"""

from __future__ import annotations

import os

from armroot.accel.layout import (
    DISTCC_DIR_INSIDE,
    DISTCC_EXE_INSIDE,
    DISTCC_LIB_INSIDE,
    DISTRIBUTE_INSIDE,
    TWIN_BIN_INSIDE,
    TWIN_DISTRIBUTE_INSIDE,
)
from armroot.rootfs.paths import DEFAULT_PATH
from armroot.sandbox.ops import (
    Bind,
    Devpts,
    File,
    MountOp,
    Proc,
    SessionSpec,
    Symlink,
    Sysfs,
    Tmpfs,
)
from armroot.tuples import NamedTuple

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
HOST_CA_INSIDE = "/run/armroot/host-ca.crt"
# Where distributions keep their combined CA bundle (Debian/Ubuntu/RPi OS, Fedora, Arch, Alpine).
CA_BUNDLE_PATHS = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
# pacman 7 in the root (rootfs/pacman.py): a `pacman` first on PATH that turns off the
# download sandbox QEMU cannot provide, for this session only.
PACMAN_DIR_INSIDE = "/run/armroot/pacman"
PACMAN_WRAPPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pacman-wrapper.sh")
CA_ENV_VARS = (
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
)


class UserBind(NamedTuple):
    source: str  # host path, absolute and resolved
    target: str  # path inside the root
    readonly: bool = False


class Distribute(NamedTuple):
    """A session whose native compiles go to distcc helpers (armroot.distribute)."""

    name: str  # the bare clang's name, the same on the helpers
    hosts: tuple[str, ...]  # DISTCC_HOSTS, checked
    distcc: str  # the host's distcc
    host_lib: str  # the host's directory of ld-linux-x86-64.so.2 and the libraries
    environ: tuple[tuple[str, str], ...] = ()  # the user's own DISTCC_* settings
    # The twin drivers that distribute (build-id, name, shown, root path); () for clang.
    twins: tuple[tuple[str, str, str, str], ...] = ()


class PlanInputs(NamedTuple):
    """Everything the plan depends on, read from the host and the env beforehand."""

    root: str
    argv: tuple[str, ...]
    workdir: str = "/"
    qemu_cpu: str | None = None
    qemu_binds: tuple[str, ...] = ()  # interpreters to bind (handlers without the F flag)
    host_resolv_conf: str | None = "/etc/resolv.conf"
    host_hosts: str | None = "/etc/hosts"
    host_ca_bundle: str | None = None  # set by --host-ca
    binds: tuple[UserBind, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    term: str | None = None
    console: str | None = None  # the host terminal on stdin, bound at /dev/console
    extra_ops: tuple[MountOp, ...] = ()
    user_namespace: bool = False
    pacman_wrapper: bool = False  # the root's pacman sandboxes its downloads
    distribute: Distribute | None = None


def mounts(inputs: PlanInputs) -> tuple[MountOp, ...]:
    """The mount operations, in the order they must be applied."""
    ops: list[MountOp] = [
        Proc("/proc"),
        Sysfs("/sys"),
        Tmpfs("/dev", mode=0o755, nodev=False, options="size=4m"),
    ]
    ops += [Bind(f"/dev/{name}", f"/dev/{name}", recursive=False) for name in DEVICES]
    if inputs.console:
        # The terminal belongs to the host's devpts, which the session does not mount;
        # bound here, ttyname(3) finds it by scanning /dev.
        ops.append(Bind(inputs.console, "/dev/console", recursive=False))
    ops += [
        Devpts("/dev/pts"),
        Symlink("pts/ptmx", "/dev/ptmx"),
        Tmpfs("/dev/shm", mode=0o1777),
        Symlink("/proc/self/fd", "/dev/fd"),
        Symlink("/proc/self/fd/0", "/dev/stdin"),
        Symlink("/proc/self/fd/1", "/dev/stdout"),
        Symlink("/proc/self/fd/2", "/dev/stderr"),
        Tmpfs("/tmp", mode=0o1777),
        Tmpfs("/run", mode=0o755),
        Symlink("/proc/self/mounts", "/etc/mtab"),
    ]
    if inputs.host_resolv_conf:
        ops.append(Bind(inputs.host_resolv_conf, "/etc/resolv.conf", readonly=True, optional=True))
    if inputs.host_hosts:
        ops.append(Bind(inputs.host_hosts, "/etc/hosts", readonly=True, optional=True))
    # Raspberry Pi OS preloads libarmmem, which breaks under QEMU: hidden for the session,
    # the env's own file untouched.
    ops.append(
        Bind(
            "/dev/null",
            "/etc/ld.so.preload",
            readonly=True,
            recursive=False,
            only_if_target_exists=True,
            optional=True,
        )
    )
    for interpreter in inputs.qemu_binds:
        ops.append(Bind(interpreter, interpreter, readonly=True, recursive=False))
    if inputs.host_ca_bundle:
        ops.append(Bind(inputs.host_ca_bundle, HOST_CA_INSIDE, readonly=True))
        ops += [
            Bind(inputs.host_ca_bundle, path, readonly=True, only_if_target_exists=True)
            for path in CA_BUNDLE_PATHS
        ]
    if inputs.pacman_wrapper:
        ops.append(
            Bind(PACMAN_WRAPPER, f"{PACMAN_DIR_INSIDE}/pacman", readonly=True, recursive=False)
        )
    ops += [Bind(b.source, b.target, readonly=b.readonly) for b in inputs.binds]
    ops += inputs.extra_ops
    if inputs.distribute:
        ops += distribute_ops(inputs.distribute)
    return tuple(ops)


def distribute_ops(d: Distribute) -> tuple[MountOp, ...]:
    """The host's distcc, run by the host's loader (its libraries stay out of the root's
    way), and the shim's line that sends compiles through it."""
    prefix = (f"{DISTCC_LIB_INSIDE}/ld-linux-x86-64.so.2", "--library-path", DISTCC_LIB_INSIDE)
    ops: list[MountOp] = [
        Bind(d.host_lib, DISTCC_LIB_INSIDE, readonly=True),
        Bind(d.distcc, DISTCC_EXE_INSIDE, readonly=True, recursive=False),
    ]
    if d.twins:
        # The twin handler's line per driver; distcc runs NAME here to preprocess: a link
        # to the root's driver, on PATH.
        from armroot.twins import distributed as twin_compilers

        text = twin_compilers.handler_lines(
            tuple(t[:3] for t in d.twins), (*prefix, DISTCC_EXE_INSIDE)
        )
        ops.append(File(TWIN_DISTRIBUTE_INSIDE, text))
        ops += [Symlink(f"/{root}", f"{TWIN_BIN_INSIDE}/{name}") for _, name, _, root in d.twins]
        return tuple(ops)
    line = "\t".join(("distribute", d.name, *prefix, DISTCC_EXE_INSIDE))
    ops.append(File(DISTRIBUTE_INSIDE, line + "\n"))
    return tuple(ops)


def environment(inputs: PlanInputs) -> tuple[tuple[str, str], ...]:
    """The command's environment: a clean one, not the host's."""
    env: dict[str, str] = {
        "PATH": DEFAULT_PATH,
        "HOME": "/root",
        "USER": "root",
        "LOGNAME": "root",
        "SHELL": "/bin/sh",
        "LANG": "C.UTF-8",
    }
    if inputs.term:
        env["TERM"] = inputs.term
    if inputs.qemu_cpu:
        env["QEMU_CPU"] = inputs.qemu_cpu
    if inputs.host_ca_bundle:
        for var in CA_ENV_VARS:
            env[var] = HOST_CA_INSIDE
    if inputs.distribute:
        env.update(inputs.distribute.environ)
        env["DISTCC_HOSTS"] = " ".join(inputs.distribute.hosts)
        env["DISTCC_DIR"] = DISTCC_DIR_INSIDE
    env.update(dict(inputs.env))
    if inputs.distribute and inputs.distribute.twins:
        env["PATH"] = f"{env['PATH']}:{TWIN_BIN_INSIDE}"
    if inputs.pacman_wrapper:
        env["PATH"] = f"{PACMAN_DIR_INSIDE}:{env['PATH']}"
    return tuple(sorted(env.items()))


def plan(inputs: PlanInputs) -> SessionSpec:
    return SessionSpec(
        root=inputs.root,
        ops=mounts(inputs),
        argv=inputs.argv,
        env=environment(inputs),
        workdir=inputs.workdir,
        user_namespace=inputs.user_namespace,
    )
