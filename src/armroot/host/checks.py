"""The host checks and fixes of `armroot doctor`: binfmt_misc and its QEMU handlers, the
static qemu versions, the host tools, rootless readiness, ``fix()`` (binfmt_misc mounted,
handlers with the F flag), and the pure verdicts of the checks doctor runs inside an env
(HTTPS from curl's exit codes, the 32-bit readdir self-test)."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from armroot.errors import HostError
from armroot.host import binfmt, programs, qemu, userns
from armroot.host import packages as hostpkg
from armroot.host import syscalls as sc
from armroot.rootfs import arch as archmod

OLDEST_GOOD_QEMU = (7, 0, 0)
_VERSION_RE = re.compile(r"version (\d+)\.(\d+)(?:\.(\d+))?")


def qemu_version(arch: archmod.Arch) -> tuple[int, int, int] | None:
    """The version of the host's static qemu for ``arch``, or None if it is not installed."""
    program = shutil.which(arch.qemu_static)
    if program is None:
        return None
    proc = programs.run([program, "--version"], capture=True, check=False)
    return parse_qemu_version(proc.stdout)


def parse_qemu_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)


def _check_binfmt(directory: Path) -> list[Check]:
    checks: list[Check] = []
    if not binfmt.is_mounted(directory):
        checks.append(
            Check("binfmt_misc", "fail", f"not mounted at {directory}", "sudo armroot doctor --fix")
        )
        return checks
    checks.append(Check("binfmt_misc", "ok", f"mounted at {directory}"))
    seen: set[str] = set()
    for arch in archmod.ALL:
        if arch.qemu in seen:
            continue
        seen.add(arch.qemu)
        label = f"qemu-{arch.qemu} handler"
        try:
            binds = qemu.qemu_binds(arch, directory)
        except HostError as exc:
            checks.append(Check(label, "fail", exc.message, exc.hint))
            continue
        handler = binfmt.handler_for(arch, directory)
        assert handler is not None
        if binds:
            checks.append(
                Check(
                    label,
                    "warn",
                    f"{handler.interpreter} without the F flag: sessions bind it "
                    "into the root read-only",
                    "sudo armroot doctor --fix",
                )
            )
        else:
            checks.append(Check(label, "ok", f"{handler.interpreter} (flags {handler.flags})"))
    return checks


def _check_qemu() -> list[Check]:
    checks: list[Check] = []
    for target in archmod.QEMU_TARGETS:
        arch = archmod.ARM64 if target == "aarch64" else archmod.ARMHF
        version = qemu_version(arch)
        name = f"qemu-{target}-static"
        if version is None:
            checks.append(
                Check(name, "fail", "not installed", hostpkg.QEMU_USER_STATIC.install_hint())
            )
        elif version < OLDEST_GOOD_QEMU:
            shown = ".".join(map(str, version))
            checks.append(
                Check(
                    name,
                    "warn",
                    f"version {shown} is old; programs may fail on missing syscalls",
                    "upgrade qemu-user-static to 7.0 or newer",
                )
            )
        else:
            checks.append(Check(name, "ok", "version " + ".".join(map(str, version))))
    return checks


def _check_tools() -> list[Check]:
    checks: list[Check] = []
    if shutil.which("mmdebstrap"):
        checks.append(Check("mmdebstrap", "ok", shutil.which("mmdebstrap") or ""))
    else:
        checks.append(
            Check(
                "mmdebstrap",
                "fail",
                "not installed (needed for debian: roots)",
                hostpkg.MMDEBSTRAP.install_hint(),
            )
        )
    for program, package, use in (
        ("fuse2fs", hostpkg.FUSE2FS, "disk images"),
        ("mcopy", hostpkg.MTOOLS, "disk images' boot partitions"),
    ):
        found = shutil.which(program)
        if found:
            checks.append(Check(program, "ok", found))
        else:
            checks.append(
                Check(program, "warn", f"not installed (needed for {use})", package.install_hint())
            )
    try:
        import libarchive  # noqa: F401

        checks.append(Check("libarchive", "ok", "libarchive-c loads libarchive"))
    except (ImportError, OSError) as exc:
        checks.append(
            Check("libarchive", "fail", f"cannot load: {exc}", hostpkg.LIBARCHIVE.install_hint())
        )
    return checks


def _rootless_user() -> userns.Identity | None:
    """Whose rootless use to check: the user running doctor, or under sudo the user who
    called sudo; None for a plain root login."""
    if os.geteuid() != 0:
        return userns.identity()
    name = os.environ.get("SUDO_USER")
    if not name or name == "root":
        return None
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return userns.Identity(name, entry.pw_uid, entry.pw_gid)


def _namespace_probe() -> str | None:
    """Actually make a user namespace (util-linux unshare): what the kernel says, if no."""
    program = shutil.which("unshare")
    if program is None or os.geteuid() == 0:
        return None
    proc = programs.run([program, "--user", "--map-root-user", "true"], capture=True, check=False)
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["failed"])[-1]


def _check_rootless() -> list[Check]:
    who = _rootless_user()
    if who is None:
        return [Check("rootless", "ok", "running as root: no user namespace needed")]
    # Under sudo the user's readiness is reported but is not this run's failure.
    bad = "fail" if os.geteuid() != 0 else "warn"
    checks = [Check("rootless", bad, f"{who.user}: {b.what}", b.hint) for b in userns.blockers(who)]
    if not any(c.detail.startswith(f"{who.user}: user namespaces") for c in checks):
        refused = _namespace_probe()
        if refused is not None and userns.namespace_blocker() is None:
            checks.insert(
                0,
                Check(
                    "rootless",
                    bad,
                    f"{who.user}: the kernel refused a user namespace ({refused})",
                    "a seccomp or security-module policy forbids them here; ask the "
                    "administrator, or run armroot as root",
                ),
            )
    if not checks:
        sub = userns.parse_subids((userns.ETC / "subuid").read_text(), who.user, who.uid)
        assert sub is not None
        checks.append(
            Check(
                "rootless",
                "ok",
                f"{who.user}: user namespaces allowed, subordinate ids "
                f"{sub.start}-{sub.start + sub.size - 1}, newuidmap/newgidmap privileged",
            )
        )
    return checks


def check(directory: Path = binfmt.BINFMT_DIR) -> DoctorReport:
    return DoctorReport(
        _check_binfmt(directory) + _check_qemu() + _check_tools() + _check_rootless()
    )


def fix(directory: Path = binfmt.BINFMT_DIR) -> list[str]:
    """Mount binfmt_misc and register QEMU handlers with the F flag. Needs root."""
    if os.geteuid() != 0:
        raise HostError(
            "doctor --fix changes kernel settings and needs root", "run `sudo armroot doctor --fix`"
        )
    done: list[str] = []
    if not binfmt.is_mounted(directory):
        sc.mount("binfmt_misc", str(directory), "binfmt_misc", 0)
        done.append(f"mounted binfmt_misc at {directory}")
    seen: set[str] = set()
    for arch in archmod.ALL:
        if arch.qemu in seen:
            continue
        seen.add(arch.qemu)
        program = shutil.which(arch.qemu_static)
        if program is None:
            raise HostError(
                f"{arch.qemu_static} is not installed", hostpkg.QEMU_USER_STATIC.install_hint()
            )
        interpreter = os.path.realpath(program)
        handler = binfmt.handler_for(arch, directory)
        if handler is not None:
            good = (
                handler.enabled
                and handler.fix_binary
                and qemu.interpreter_is_static(handler.interpreter)
            )
            if good:
                continue
            binfmt.remove(handler.name, directory)
            done.append(
                f"removed handler {handler.name} ({handler.interpreter}, "
                f"flags {handler.flags or 'none'})"
            )
        binfmt.register(binfmt.registration(arch, interpreter), directory)
        done.append(f"registered {arch.binfmt_name} -> {interpreter} (flags OPF)")
    return done


HTTPS_URL = "https://deb.debian.org/debian/"
# curl's exit codes that name a cause (man curl): what each means inside a root.
CURL_CAUSES = {
    6: (
        "DNS: the root cannot resolve the host name (curl 6)",
        "check the host's /etc/resolv.conf (sessions use it) and that the host resolves it",
    ),
    7: (
        "cannot connect (curl 7): no route, or a firewall",
        "check the host's network and proxy settings (https_proxy is passed with --env)",
    ),
    28: ("timed out (curl 28)", "check the host's network; a proxy may need --env https_proxy"),
    35: (
        "the TLS handshake failed (curl 35): no randomness (/dev/urandom), a TLS library "
        "too old for the server, or not TLS at all on that port",
        "check the URL; `armroot upgrade ENV` for a newer TLS library",
    ),
}


def https_verdict(name: str, url: str, code: int, host_ca_code: int | None) -> Check:
    """What curl's exit status says about HTTPS in the root: ``code`` with the root's CA
    store, ``host_ca_code`` with the host's bundle (tried only after a certificate error,
    60; None when not tried). Pure."""
    what = f"https in '{name}'"
    if code == 0:
        return Check(what, "ok", f"{url} with the root's own CA store")
    if code == 127:
        return Check(what, "warn", "the root has no curl", f"armroot install {name} curl")
    if code == 60:
        if host_ca_code == 0:
            return Check(
                what,
                "warn",
                "the root's CA store does not trust the server's certificate (curl 60), "
                "the host's bundle does: a TLS-intercepting proxy",
                f"use --host-ca (armroot run {name} --host-ca -- ...)",
            )
        return Check(
            what,
            "fail",
            "neither the root's CA store nor the host's trusts the server (curl 60)",
            "check the URL, and the host's CA bundle (update-ca-certificates)",
        )
    detail, fix_hint = CURL_CAUSES.get(code, (f"curl failed with exit status {code}", ""))
    return Check(what, "fail", detail, fix_hint)


READDIR_PROBE = "/usr/bin"  # hundreds of entries in any root with a userland


def readdir_verdict(name: str, listed: int | None, expected: int) -> Check:
    """Whether a 32-bit program listed the probe directory completely. Pure."""
    what = f"32-bit readdir in '{name}'"
    if listed == expected:
        return Check(what, "ok", f"{READDIR_PROBE}: all {expected} entries listed")
    seen = "failed" if listed is None else f"listed {listed} of {expected} entries"
    return Check(
        what,
        "warn",
        f"{READDIR_PROBE} {seen}: this qemu hands 64-bit directory offsets to 32-bit "
        "programs on this filesystem (LP#1805913); CA stores and listings come out broken",
        "install a newer qemu-user-static, or keep the store (ARMROOT_HOME) on another "
        "filesystem (tmpfs, btrfs, xfs)",
    )
