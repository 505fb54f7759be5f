"""`armroot images`, `armroot cache list|clean`, `armroot export`."""

from __future__ import annotations

import os
from pathlib import Path

from armroot import log
from armroot.errors import UsageError
from armroot.host import programs
from armroot.images import catalogue, download
from armroot.images.catalogue import Entry
from armroot.store.envs import Store

EXPORT_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.bz2")


def list_images() -> tuple[Entry, ...]:
    return catalogue.entries()


def cache_list() -> tuple[list[download.CacheItem], list[Path]]:
    return download.list_cache()


def cache_clean() -> int:
    return download.clean_cache()


def export(name: str, target: Path, store: Store | None = None) -> Path:
    """Pack the env's root into ``target`` (owners, modes, xattrs, ACLs kept, numeric ids)."""
    store = store or Store()
    env = store.get(name)
    if not target.name.endswith(EXPORT_SUFFIXES):
        raise UsageError(
            f"--tar {target}: unknown tarball type",
            f"name it with one of {', '.join(EXPORT_SUFFIXES)}",
        )
    target = target.absolute()
    if not target.parent.is_dir():
        raise UsageError(f"--tar {target}: {target.parent} does not exist", "create it first")
    partial = target.with_name(f".{target.name}.partial")
    with store.session_lock(env), log.step(f"Packing '{name}' into {target.name}"):
        try:
            programs.run(
                [
                    "tar",
                    "--numeric-owner",
                    "--xattrs",
                    "--xattrs-include=*",
                    "--acls",
                    "--one-file-system",
                    "--auto-compress",
                    "-C",
                    str(env.rootfs),
                    "-cpf",
                    str(partial),
                    ".",
                ]
            )
            os.replace(partial, target)
        finally:
            if partial.exists():
                partial.unlink()
    return target
