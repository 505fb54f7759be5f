"""`armroot images`, `armroot cache list|clean` (downloads and bootstraps), `armroot export`."""

from __future__ import annotations

import os
from pathlib import Path

from armroot import log
from armroot.errors import UsageError
from armroot.images import bootstraps, catalogue, download, indexes, pack
from armroot.store.envs import Store

EXPORT_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.bz2")


def list_images(refresh: bool = False) -> catalogue.Catalogue:
    """The catalogue; ``refresh`` fetches every publisher's index anew."""
    return catalogue.catalogue("refresh" if refresh else "auto")


def cache_list() -> tuple[list[download.CacheItem], list[Path], list[bootstraps.Entry]]:
    items, partials = download.list_cache()
    return items, partials, bootstraps.entries()


def cache_clean() -> int:
    """Drop downloads, cached bootstraps and kept indexes, and empty the compiler caches;
    the bytes freed."""
    from armroot.accel import compile_cache
    from armroot.store.envs import cache_home

    freed = download.clean_cache() + bootstraps.clean() + indexes.clean()
    return freed + compile_cache.clean(cache_home())


def export(name: str, target: Path, store: Store | None = None) -> Path:
    """Pack the env's root into ``target`` (owners, modes, xattrs, ACLs kept, numeric ids)
    with its metadata (board, gcc target, source) as ``.armroot-env.json``, which `armroot
    create --from` reads back; any other tool extracts it as one small file."""
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
    # the suffix last: tar picks the compression by it
    partial = target.with_name(f".partial-{target.name}")
    with store.session_lock(env), log.step(f"Packing '{name}' into {target.name}"):
        try:
            pack.pack(env.rootfs, partial, meta=env.meta.to_json())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target
