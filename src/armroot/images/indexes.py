"""The distributions' indexes (and Arch Linux ARM's signatures), fetched and kept in the cache
so the last one read serves when the publisher cannot be reached.

Layout under the cache home::

    indexes/KEY.body   what the URL answered (KEY: sha256 of the URL, 16 digits)
    indexes/KEY.json   {"url": ..., "fetched": ISO time, "sha256": of the body}

Policies: ``auto`` uses a copy younger than :data:`MAX_AGE` and fetches otherwise (falling
back to the kept copy, saying so, when the fetch fails); ``refresh`` always fetches (same
fallback); ``offline`` only reads the kept copy.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from armroot import log
from armroot.errors import SourceError
from armroot.images import download
from armroot.store.envs import cache_home
from armroot.store.tree import safe_remove

DIR = "indexes"
MAX_AGE = datetime.timedelta(hours=24)
POLICIES = ("auto", "refresh", "offline")
LIMIT = 16 << 20  # no index is near this; a server sending more is not sending an index


class Index(NamedTuple):
    url: str
    body: bytes
    fetched: datetime.datetime

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _paths(url: str) -> tuple[Path, Path]:
    # (an address from the environment may hold undecodable bytes, as lone surrogates)
    key = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    folder = cache_home() / DIR
    return folder / f"{key}.body", folder / f"{key}.json"


def kept(url: str) -> Index | None:
    """The copy of ``url`` last fetched, if one is kept whole."""
    body_path, meta_path = _paths(url)
    try:
        meta = json.loads(meta_path.read_text())
        body = body_path.read_bytes()
        fetched = datetime.datetime.fromisoformat(meta["fetched"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if meta.get("url") != url or hashlib.sha256(body).hexdigest() != meta.get("sha256"):
        return None
    if fetched.utcoffset() is None:  # armroot writes UTC times: not a record it made
        return None
    return Index(url, body, fetched)


def _keep(url: str, body: bytes) -> Index:
    body_path, meta_path = _paths(url)
    body_path.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    meta = {"url": url, "fetched": now.isoformat(), "sha256": hashlib.sha256(body).hexdigest()}
    for path, data in ((body_path, body), (meta_path, json.dumps(meta).encode())):
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        partial.write_bytes(data)
        os.replace(partial, path)
    return Index(url, body, now)


def load(
    url: str, what: str, policy: str = "auto", check: Callable[[str], object] | None = None
) -> Index:
    """``url`` (``what`` names it in messages) by ``policy``. A fetched copy is kept only if
    ``check`` (a parser, raising a SourceError) accepts its text: an error page or a changed
    format never replaces the last good copy."""
    if policy not in POLICIES:
        raise ValueError(policy)
    old = kept(url)
    now = datetime.datetime.now(datetime.UTC)
    fresh = old is not None and datetime.timedelta(0) <= now - old.fetched < MAX_AGE
    if old is not None and (policy == "offline" or (policy == "auto" and fresh)):
        return old
    if policy == "offline":
        raise SourceError(
            f"no copy of {what} is kept, and --offline forbids fetching it ({url})",
            "run once with the network (`armroot images --refresh`)",
        )
    try:
        with log.step(f"Fetching {what}"):
            body = download.fetch_bytes(url, LIMIT)
            if check is not None:
                check(body.decode("utf-8", "replace"))
    except SourceError as exc:
        if old is None:
            raise SourceError(
                f"cannot read {what}: {exc.message}",
                "check the network and proxy settings; once read, armroot keeps the index for "
                "when the publisher cannot be reached",
            ) from exc
        stamp = old.fetched.strftime("%Y-%m-%d %H:%M UTC")
        log.warn(f"using {what} as fetched {stamp} ({exc.message})")
        return old
    return _keep(url, body)


def drop(url: str) -> None:
    """Forget the kept copy of ``url`` (one that proved bad)."""
    for path in _paths(url):
        path.unlink(missing_ok=True)


def clean() -> int:
    """Drop every kept index; the bytes freed."""
    folder = cache_home() / DIR
    if not folder.is_dir():
        return 0
    freed = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    safe_remove(folder)
    return freed
