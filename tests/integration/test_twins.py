"""Twins from the real Debian archive for a real root: chosen by the root's own versions,
verified through the signed Release with the root's own keys, refused when anything does
not match what was signed."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from armroot.rootfs import elfinfo
from armroot.twins import archive, deb822, select, sources
from tests.integration.conftest import ArmEnv

pytestmark = [pytest.mark.root, pytest.mark.network]


def _root(env: ArmEnv) -> Path:
    return env.home / "envs" / env.name / "rootfs"


def _source(root: Path) -> sources.AptSource:
    found = sources.one_line((root / "etc/apt/sources.list").read_text())
    assert found, "the bootstrapped root names its archive in sources.list"
    return found[0]


def test_twins_of_a_real_root_are_its_own_versions_and_verified(
    shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    root = _root(shared_envs["arm64"])
    source = _source(root)
    release = archive.verified_release(root, source, tmp_path)
    assert "Codename: trixie" in release
    offered = archive.amd64_index(source, release, tmp_path)
    installed = deb822.installed((root / "var/lib/dpkg/status").read_text())
    choice = select.choose(installed, offered, "aarch64-linux-gnu")
    twinned = {t.root.name: t for t in choice.twins}
    # The shell, make and the compiler driver of the root: same source version, amd64.
    for name in ("dash", "make", "gcc-14-aarch64-linux-gnu", "binutils-aarch64-linux-gnu"):
        if name not in twinned:
            pytest.fail(f"no twin for {name}: {dict(choice.missing).get(name)}")
    for twin in choice.twins:
        assert twin.twin.arch == "amd64"
        if twin.twin.source == twin.root.source:
            assert twin.twin.source_version == twin.root.source_version
    gcc = twinned["gcc-14-aarch64-linux-gnu"]
    assert ("gcc-14", gcc.root.source_version) in gcc.twin.built_using
    tree = archive.tree(source, twinned["dash"].twin, tmp_path)
    dash = tree / "usr/bin/dash"
    assert elfinfo.read(dash).machine_name == "x86_64"
    deb = tmp_path / "twins/debs" / f"{twinned['dash'].twin.sha256}.deb"
    assert hashlib.sha256(deb.read_bytes()).hexdigest() == twinned["dash"].twin.sha256
    # An altered .deb in the cache is not used: the next unpack fetches it again.
    original = dash.read_bytes()
    shutil.rmtree(tree)
    deb.write_bytes(deb.read_bytes()[:-100] + b"\0" * 100)
    # ... and what a killed armroot left half-unpacked is removed, not used.
    left = tmp_path / "twins/trees" / f".{twinned['dash'].twin.sha256}.partial-99999"
    (left / "usr/bin").mkdir(parents=True)
    again = archive.tree(source, twinned["dash"].twin, tmp_path)
    assert not left.exists()
    assert hashlib.sha256(deb.read_bytes()).hexdigest() == twinned["dash"].twin.sha256
    assert (again / "usr/bin/dash").read_bytes() == original


def test_a_release_signed_by_a_key_the_root_does_not_trust_is_refused(
    shared_envs: dict[str, ArmEnv], tmp_path: Path
) -> None:
    real = _root(shared_envs["arm64"])
    source = _source(real)
    # A root that trusts only long-removed Debian keys.
    fake = tmp_path / "root"
    (fake / "etc/apt/trusted.gpg.d").mkdir(parents=True)
    shutil.copy(
        "/usr/share/keyrings/debian-archive-removed-keys.gpg",
        fake / "etc/apt/trusted.gpg.d/removed.gpg",
    )
    with pytest.raises(archive.TwinUnavailable, match="is not signed by a key the root trusts"):
        archive.verified_release(fake, source, tmp_path / "cache")
    assert not list((tmp_path / "cache/twins/index").glob("*/Release"))  # nothing kept


def test_no_network_is_one_clear_error(shared_envs: dict[str, ArmEnv], tmp_path: Path) -> None:
    root = _root(shared_envs["arm64"])
    closed = sources.AptSource("http://127.0.0.1:9", "trixie", ("main",))
    with pytest.raises(archive.TwinUnavailable, match=r"cannot fetch http://127\.0\.0\.1:9/dists"):
        archive.verified_release(root, closed, tmp_path)
