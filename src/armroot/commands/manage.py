"""`armroot list`, `armroot info`, `armroot rm`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from armroot.store import lock as envlock
from armroot.store.envs import Env, EnvMeta, Store


@dataclass(frozen=True)
class EnvStatus:
    meta: EnvMeta
    path: str
    in_use: bool
    native: tuple[str, ...] = ()  # what runs natively (info only: accel.setup.report)


def status(env: Env) -> EnvStatus:
    return EnvStatus(env.meta, str(env.path), envlock.in_use(str(env.path)))


def list_envs(store: Store | None = None) -> list[EnvStatus]:
    store = store or Store()
    if os.geteuid() == 0:
        # Rootless, leftovers hold files of subordinate ids: the next command that enters
        # the user namespace (create, rm) removes them; list stays outside it.
        store.clean_stale()
    return [status(env) for env in store.envs()]


def info(name: str, store: Store | None = None) -> EnvStatus:
    from dataclasses import replace

    from armroot.accel import setup

    store = store or Store()
    env = store.get(name)
    return replace(status(env), native=setup.report(env).lines())


def remove(name: str, store: Store | None = None) -> None:
    """Remove an environment; refuses while in use or with anything mounted below it."""
    store = store or Store()
    store.remove(name)
