"""Where the store and the cache are, as plain strings; the names of an env's own files.
:mod:`armroot.store.envs` owns what is inside. Light (see :mod:`armroot.session`)."""

from __future__ import annotations

import os

ENVS_DIR = "envs"  # envs/NAME/ under the store's home
ROOTFS_DIR = "rootfs"  # the env's root filesystem
META_FILE = "armroot.json"
LOCK_FILE = "lock"


def env_dir(name: str, is_root: bool) -> str:
    """Where the env ``name`` lives (whether or not it exists)."""
    return os.path.join(store_home(is_root), ENVS_DIR, name)


def store_home(is_root: bool) -> str:
    """The store's root directory, canonical (a symlinked store resolves to its target)."""
    configured = os.environ.get("ARMROOT_HOME")
    if configured:
        base = configured
    elif is_root:
        base = "/var/lib/armroot"
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(_user_home(), ".local/share")
        base = os.path.join(xdg, "armroot")
    return os.path.realpath(base)


def cache_home(is_root: bool) -> str:
    """Where downloads and other re-creatable files are kept."""
    if os.environ.get("ARMROOT_CACHE"):
        base = os.environ["ARMROOT_CACHE"]
    elif os.environ.get("ARMROOT_HOME"):
        base = os.path.join(os.environ["ARMROOT_HOME"], "cache")
    elif is_root:
        base = "/var/cache/armroot"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(_user_home(), ".cache")
        base = os.path.join(xdg, "armroot")
    return os.path.realpath(base)


def _user_home() -> str:
    from pathlib import Path  # what store.home() has always used

    return str(Path.home())
