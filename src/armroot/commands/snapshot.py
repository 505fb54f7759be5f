"""`armroot snapshot ENV NAME` and `armroot reset ENV [NAME]`: copies of an env's root."""

from __future__ import annotations

import os
from pathlib import Path

from armroot import log
from armroot.errors import EnvExists, EnvNotFound
from armroot.host import programs
from armroot.store.envs import Env, Store
from armroot.store.names import check_name
from armroot.store.tree import safe_remove


def _snapshots(env: Env) -> Path:
    return env.path / "snapshots"


def _copy(source: Path, target: Path) -> None:
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        safe_remove(partial)
    try:
        programs.run(
            ["cp", "-a", "--reflink=auto", "--no-target-directory", str(source), str(partial)]
        )
    except BaseException:
        if partial.exists():
            safe_remove(partial)
        raise
    os.rename(partial, target)


def list_snapshots(name: str, store: Store | None = None) -> list[str]:
    env = (store or Store()).get(name)
    folder = _snapshots(env)
    if not folder.is_dir():
        return []
    entries = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return [p.name for p in sorted(entries, key=lambda p: p.stat().st_mtime)]


def snapshot(name: str, snap: str, store: Store | None = None) -> Path:
    store = store or Store()
    env = store.get(name)
    check_name(snap)
    target = _snapshots(env) / snap
    if target.exists():
        raise EnvExists(
            f"'{name}' already has a snapshot named '{snap}'",
            f"pick another name (existing: {', '.join(list_snapshots(name, store))})",
        )
    target.parent.mkdir(exist_ok=True)
    with store.exclusive_lock(env, "snapshot"), log.step(f"Snapshotting '{name}' as '{snap}'"):
        _copy(env.rootfs, target)
    return target


def reset(name: str, snap: str | None = None, store: Store | None = None) -> str:
    """Put the env's root back to snapshot ``snap`` (default: the newest one)."""
    store = store or Store()
    env = store.get(name)
    known = list_snapshots(name, store)
    if not known:
        raise EnvNotFound(f"'{name}' has no snapshots", f"make one: armroot snapshot {name} NAME")
    chosen = snap or known[-1]
    if chosen not in known:
        raise EnvNotFound(f"'{name}' has no snapshot '{chosen}'", f"it has {', '.join(known)}")
    with store.exclusive_lock(env, "reset"), log.step(f"Resetting '{name}' to '{chosen}'"):
        fresh = env.path / "rootfs.new"
        if fresh.exists():
            safe_remove(fresh)
        _copy(_snapshots(env) / chosen, fresh)
        store.replace_rootfs(env, fresh)
    return chosen
