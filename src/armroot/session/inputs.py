"""A session's plan inputs: what the env and the host give every session (worth caching), and
what each request brings (its command and options, the terminal, the host's resolv.conf).
Light (see :mod:`armroot.session`)."""

from __future__ import annotations

import os

from armroot.errors import HostError, UsageError
from armroot.rootfs.paths import resolve_in_root_str
from armroot.sandbox.ops import MountOp
from armroot.session.plan import Distribute, PlanInputs, UserBind
from armroot.tuples import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.session.request import Request

HOST_CA_CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
)
RESERVED_TARGETS = ("/", "/proc", "/sys", "/dev")


class EnvInputs(NamedTuple):
    """The inputs that come from the env and the host's set-up, the same for every run."""

    root: str
    qemu_cpu: str | None
    qemu_binds: tuple[str, ...]  # interpreters to bind (handlers without the F flag)
    accel_env: tuple[tuple[str, str], ...] = ()  # the native compilers' environment
    accel_ops: tuple[MountOp, ...] = ()  # ... and mounts
    user_namespace: bool = False  # ... and whether the session needs its own (twins)
    pacman_wrapper: bool = False  # the root's pacman sandboxes its downloads (rootfs/pacman)
    distribute_as: str = ""  # the native clang's name on distcc helpers (armroot.distribute)
    # ... or the twin drivers': (build-id, name, shown, root path)
    distribute_twins: tuple[tuple[str, str, str, str], ...] = ()


def parse_bind(text: str) -> UserBind:
    """``SRC[:DST]`` -> UserBind; SRC must exist on the host, DST is a path inside the root."""
    source, sep, target = text.partition(":")
    if not source:
        raise UsageError(f"--bind {text!r}: no source path", "use --bind SRC[:DST]")
    src = os.path.expanduser(source)
    if not os.path.exists(src):
        raise UsageError(
            f"--bind {text!r}: {source} does not exist on this machine",
            "create it first, or fix the path",
        )
    real = os.path.realpath(src)
    dst = target if sep else os.path.abspath(src)
    if not dst.startswith("/"):
        raise UsageError(
            f"--bind {text!r}: the target {dst!r} must be an absolute path",
            "use --bind SRC:/path/inside/root",
        )
    if os.path.normpath(dst) in RESERVED_TARGETS:
        raise UsageError(
            f"--bind {text!r}: cannot bind over {os.path.normpath(dst)}",
            "choose another target path inside the root",
        )
    return UserBind(real, os.path.normpath(dst))


def parse_env(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or "\0" in item:
            raise UsageError(f"--env {item!r} is not KEY=VALUE", "write it as --env NAME=value")
        pairs.append((key, value))
    return tuple(pairs)


def host_ca_bundle() -> str:
    """The host's combined CA bundle (what the host itself trusts)."""
    candidates = [os.environ.get("SSL_CERT_FILE", ""), *HOST_CA_CANDIDATES]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return os.path.realpath(candidate)
    raise HostError(
        "--host-ca: no CA bundle found on this machine",
        "install ca-certificates on the host, or set SSL_CERT_FILE to your bundle",
    )


def _host_file(path: str) -> str | None:
    return os.path.realpath(path) if os.path.isfile(path) else None


def _stdin_terminal() -> str | None:
    try:
        return os.ttyname(0) if os.isatty(0) else None
    except OSError:
        return None


def shell_argv(root: str) -> tuple[str, ...]:
    """A login shell: the root's bash if it has one, else its sh."""
    bash = resolve_in_root_str(root, "/bin/bash")
    return ("/bin/bash", "-l") if os.path.isfile(bash) else ("/bin/sh", "-l")


def workdir(root: str, asked: str | None) -> str:
    """Where the command starts: ``asked``, or /root when the root has one, else /."""
    if asked is None:
        return "/root" if os.path.isdir(resolve_in_root_str(root, "/root")) else "/"
    if not asked.startswith("/"):
        raise UsageError(
            f"--workdir {asked!r} must be an absolute path inside the root",
            "for example --workdir /src",
        )
    return asked


def _cache_env(accel_env: tuple[tuple[str, str], ...], run: Request) -> tuple[tuple[str, str], ...]:
    """What one request tells the compiler cache (armroot.accel.compile_cache), when the
    session has one: off (``--no-cache``: ccache then only runs the compiler), and where it
    counts this request's compiles."""
    if not any(name == "CCACHE_DIR" for name, _ in accel_env):
        return ()
    found: list[tuple[str, str]] = []
    if not run.compile_cache:
        found.append(("CCACHE_DISABLE", "1"))
    if run.cache_stats:
        found.append(("CCACHE_STATSLOG", run.cache_stats))
    return tuple(found)


def plan_inputs(env: EnvInputs, run: Request) -> PlanInputs:
    """The plan's inputs for ``run`` in the env ``env`` describes, read fresh from the host."""
    return PlanInputs(
        root=env.root,
        argv=run.argv,
        workdir=workdir(env.root, run.workdir),
        qemu_cpu=env.qemu_cpu,
        qemu_binds=env.qemu_binds,
        host_resolv_conf=_host_file("/etc/resolv.conf"),
        host_hosts=_host_file("/etc/hosts"),
        host_ca_bundle=host_ca_bundle() if run.host_ca else None,
        binds=tuple(parse_bind(b) for b in run.binds),
        env=(
            *env.accel_env,
            *_cache_env(env.accel_env, run),
            *parse_env(run.env),
            ("ARMROOT_ENV", run.name),
        ),
        term=os.environ.get("TERM"),
        console=_stdin_terminal(),
        extra_ops=env.accel_ops,
        user_namespace=env.user_namespace,
        pacman_wrapper=env.pacman_wrapper,
        distribute=_distribute(env, run),
    )


# distcc's settings armroot makes itself: where it compiles, where it keeps its state, and
# that a compile it could not send is compiled here (never left to the root's gcc).
ARMROOTS_DISTCC = (
    "DISTCC_HOSTS",
    "DISTCC_DIR",
    "DISTCC_CMDLIST",
    "DISTCC_FALLBACK",
    "DISTCC_SKIP_LOCAL_RETRY",
)


def _distribute(env: EnvInputs, run: Request) -> Distribute | None:
    """The session's distributed compiles (armroot.distribute), when asked and possible."""
    if not run.distribute:
        return None
    if not env.distribute_as and not env.distribute_twins:
        from armroot import log

        log.warn(
            f"'{run.name}': only the native clang's and the twin gcc's compiles can be "
            "distributed: local"
        )
        return None
    import shutil

    distcc = shutil.which("distcc")
    loader = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    if distcc is None or not os.path.isfile(loader):
        raise HostError(
            "distributed compiles need distcc on this machine",
            "install it (apt install distcc), or build without --distribute",
        )
    environ = tuple(
        (k, v)
        for k, v in sorted(os.environ.items())
        if k.startswith("DISTCC_") and k not in ARMROOTS_DISTCC
    )
    return Distribute(
        env.distribute_as,
        run.distribute,
        os.path.realpath(distcc),
        os.path.dirname(loader),
        environ,
        env.distribute_twins,
    )
