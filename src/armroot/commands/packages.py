"""`armroot install` and `armroot upgrade`: the root's own package manager, under an
exclusive lock on the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from armroot import log, pkg
from armroot.errors import ExternalCommandError, UsageError
from armroot.host import openpgp
from armroot.rootfs.paths import resolve_in_root
from armroot.session.request import Request, package_mode
from armroot.session.run import run
from armroot.store.envs import Store
from armroot.twins import archive, prepare

PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._:=<>~@/-]*$")


class PackagesResult(NamedTuple):
    manager: str
    installed: tuple[str, ...]


def _check_names(packages: tuple[str, ...]) -> None:
    for name in packages:
        if not PACKAGE_RE.match(name):
            raise UsageError(f"'{name}' is not a package name", "give plain package names")


def _run_all(
    name: str,
    commands: tuple[tuple[str, ...], ...],
    env: tuple[str, ...],
    host_ca: bool,
    store: Store,
    purpose: str,
) -> None:
    for argv in commands:
        with log.step(" ".join(argv)):
            result = run(
                Request(
                    name,
                    argv,
                    env=env,
                    host_ca=host_ca,
                    exclusive_for=purpose,
                    accel=package_mode(),
                )
            )
        if result.exit_code != 0:
            update = argv[:2] == ("apt-get", "update")
            weak = _sha1_keyring(store.get(name).rootfs) if update else None
            if weak is not None:
                raise ExternalCommandError(*weak)
            raise ExternalCommandError(
                f"`{' '.join(argv)}` failed in '{name}' with exit status {result.exit_code}",
                "see its output above; check the package names and the network",
            )


def _sha1_keyring(rootfs: Path) -> tuple[str, str] | None:
    """Why `apt-get update` failed, when the cause is one apt words cryptically: the root's
    apt 3 verifies with sqv, whose policy rejects a key bound only by SHA-1 self-signatures
    since 2026-02-01 (the Raspberry Pi archive's older keyring packages), so a source whose
    Signed-By keyring holds only such keys has no valid signature at all."""
    if not resolve_in_root(rootfs, "/usr/bin/sqv").exists():
        return None  # gpgv still accepts such keys
    for source in prepare.apt_sources(rootfs):
        if not source.signed_by:
            continue  # trusted by every key apt has: which one signs it is not known
        for ring in archive.keyrings(rootfs, source):
            data = ring.read_bytes()
            weak = openpgp.sha1_bound(data)
            if weak and set(weak) == set(openpgp.fingerprints(data)):  # no good key beside
                inside = "/" + str(ring.relative_to(rootfs))
                return (
                    f"apt rejects {source.uri} {source.suite}: the key it is signed with "
                    f"({', '.join(weak)}, in {inside}) is bound only by SHA-1 signatures, "
                    "which apt 3 refuses since 2026-02-01",
                    "install the archive's re-signed keyring (for Raspberry Pi OS: "
                    "raspberrypi-archive-keyring of 2025-06 or later, from a current image), "
                    "or put its current key at that path",
                )
    return None


def missing(name: str, packages: tuple[str, ...], store: Store | None = None) -> tuple[str, ...]:
    """Which of ``packages`` the env does not have installed yet."""
    store = store or Store()
    env = store.get(name)
    adapter = pkg.detect(env.rootfs)
    result = run(Request(name, adapter.missing(packages), capture=True, accel="none"))
    return tuple(line for line in result.stdout.split() if line)


def install(
    name: str,
    packages: tuple[str, ...],
    host_ca: bool = False,
    store: Store | None = None,
    only_missing: bool = False,
) -> PackagesResult:
    """Install ``packages`` with the root's own package manager."""
    if not packages:
        raise UsageError("no packages given", f"armroot install {name} PACKAGE...")
    _check_names(packages)
    store = store or Store()
    env = store.get(name)
    adapter = pkg.detect(env.rootfs)
    wanted = missing(name, packages, store) if only_missing else packages
    if not wanted:
        return PackagesResult(adapter.name, ())
    keyring = resolve_in_root(env.rootfs, "/etc/pacman.d/gnupg/trustdb.gpg").exists()
    commands = adapter.prepare(keyring) + adapter.install(wanted)
    _run_all(name, commands, adapter.env, host_ca, store, "change packages in")
    return PackagesResult(adapter.name, wanted)


def upgrade(name: str, host_ca: bool = False, store: Store | None = None) -> PackagesResult:
    store = store or Store()
    env = store.get(name)
    adapter = pkg.detect(env.rootfs)
    keyring = resolve_in_root(env.rootfs, "/etc/pacman.d/gnupg/trustdb.gpg").exists()
    _run_all(
        name, adapter.prepare(keyring) + adapter.upgrade(), adapter.env, host_ca, store, "upgrade"
    )
    return PackagesResult(adapter.name, ())
