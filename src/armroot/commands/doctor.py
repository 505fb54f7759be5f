"""`armroot doctor`: the host's checks (and with --fix its fixes) from armroot.host.checks,
and with --env the checks that run sessions inside an env (HTTPS, 32-bit readdir)."""

from __future__ import annotations

import os
from pathlib import Path

from armroot.host import binfmt, userns
from armroot.host.checks import HTTPS_URL as HTTPS_URL
from armroot.host.checks import (
    READDIR_PROBE,
    Check,
    DoctorReport,
    check,
    fix,
    https_verdict,
    readdir_verdict,
)


def https_checks(name: str, url: str = HTTPS_URL) -> list[Check]:
    """Fetch ``url`` with the root's curl, first with the root's CA store, then (on a
    certificate error) with the host's bundle: tells DNS, TLS and CA failures apart."""
    from armroot.session import run as session
    from armroot.session.request import Request

    script = (
        "command -v curl >/dev/null || exit 127; "
        'exec curl -sS -o /dev/null --max-time 30 "$0" 2>/dev/null'
    )

    def curl(host_ca: bool) -> int:
        argv = ("sh", "-c", script, url)
        options = Request(name, argv, host_ca=host_ca, capture=True, accel="none")
        return session.run(options).exit_code

    code = curl(host_ca=False)
    host_ca_code = curl(host_ca=True) if code == 60 else None
    return [https_verdict(name, url, code, host_ca_code)]


def readdir_check(name: str) -> list[Check]:
    """The LP#1805913 self-test for 32-bit roots: list a large directory from inside and
    compare with what the host sees in the same directory."""
    from armroot.rootfs.paths import resolve_in_root
    from armroot.session import run as session
    from armroot.session.request import Request
    from armroot.store.envs import Store

    env = Store().get(name)
    if env.meta.arch == "arm64":
        return []
    probe = resolve_in_root(env.rootfs, READDIR_PROBE)
    expected = len(os.listdir(probe))
    argv = ("sh", "-c", f"ls -f {READDIR_PROBE} | wc -l")
    result = session.run(Request(name, argv, capture=True, accel="none"))
    if result.exit_code == 127:  # no ls in this root: nothing to test with
        return []
    listed = int(result.stdout) - 2 if result.exit_code == 0 else None  # minus . and ..
    return [readdir_verdict(name, listed, expected)]


def native_check(name: str) -> list[Check]:
    """Which of the env's programs run natively (its twins), which emulated, and why."""
    from armroot.accel import setup
    from armroot.store.envs import Store

    lines = setup.report(Store().get(name)).lines()
    status = "ok" if lines[0].startswith("twins (") else "warn"
    return [Check(f"native programs in '{name}'", status, "; ".join(lines))]


def doctor(
    apply_fix: bool = False,
    directory: Path = binfmt.BINFMT_DIR,
    env: str | None = None,
    url: str = HTTPS_URL,
) -> DoctorReport:
    """The host's checks (from outside: they tell whether a rootless armroot could enter its
    user namespace), then, with ``env``, the checks inside that env, for which an ordinary
    user's armroot enters it (the one verb that enters part-way: cli/table.py)."""
    fixed = fix(directory) if apply_fix else []
    report = check(directory)
    report.fixed = fixed
    if env is not None:
        userns.become_root()
        report.checks += readdir_check(env) + https_checks(env, url) + native_check(env)
    return report
