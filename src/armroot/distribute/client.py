"""The client side of a distributed build: which helpers it asks for (--distribute,
[distribute] hosts in armroot.toml, else the user's DISTCC_HOSTS), which compilers they
must have (the native clang, or the env's twin gcc and g++), which of them can take its
compiles (each checked with a real compile: a helper whose compiler differs is never used),
and how many jobs the build then runs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

from armroot import log
from armroot.distribute import helper
from armroot.distribute.hosts import (
    DEFAULT_JOBS,
    Host,
    distcc_hosts,
    from_distcc_hosts,
    local_jobs,
    parse_many,
)

QUEUED = 1  # compiles sent to a busy helper ahead (see plan)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.store.envs import Env


class Plan(NamedTuple):
    hosts: tuple[str, ...]  # DISTCC_HOSTS words for the session; () builds locally
    jobs: int  # the build's -j
    used: tuple[Host, ...] = ()


def asked(cli: Sequence[str], configured: Sequence[str]) -> tuple[tuple[Host, ...], bool]:
    """The helpers the user asks for: --distribute, else armroot.toml, else DISTCC_HOSTS;
    and whether they were asked for in armroot's own words (not only the environment)."""
    if cli:
        return parse_many(cli), True
    if configured:
        return parse_many(configured), True
    value = os.environ.get("DISTCC_HOSTS", "").strip()
    if not value:
        return (), False
    found, skipped = from_distcc_hosts(value)
    if skipped:
        log.warn(
            f"DISTCC_HOSTS: {' '.join(skipped)} left out (armroot checks each helper and takes "
            "plain HOST[:PORT][/JOBS] words)"
        )
    return found, False


def probes(env: Env, accel: str) -> tuple[helper.Probe, ...]:
    """The compiles that show a helper has the compilers a session of ``env`` in ``accel``
    mode (clang or twins) sends: () when its twins have none to distribute."""
    if accel != "twins":
        return (helper.clang_probe(helper.local_compiler()),)
    from armroot.accel import setup
    from armroot.twins import distributed as twin_compilers

    found = setup.twin_set(env)
    compilers = twin_compilers.of(found) if found is not None else ()
    return tuple(helper.twin_probe(c.name, c.language) for c in compilers)


def plan(wanted: tuple[Host, ...], probes: tuple[helper.Probe, ...]) -> Plan:
    """Check every helper; the ones that can take compiles, with their jobs. A helper that
    cannot is one line; none that can is one line and a local build."""
    local = local_jobs()
    if not probes:
        log.warn("the env's twin compilers have no cc1 or assembler twin: building here alone")
        return Plan((), local)
    compiler = helper.local_compiler()
    names = ", ".join(p.name for p in probes)
    with log.step(f"Checking {len(wanted)} helper(s) for {names}"):
        checks = [helper.check(host, probes, compiler) for host in wanted]
    usable = [c for c in checks if c.has_compiler]
    if not usable:
        why = "; ".join(c.line(names) for c in checks)
        log.warn(f"no helper can take compiles ({why}): building here alone")
        return Plan((), local)
    for c in checks:
        if not c.has_compiler:
            log.warn(f"helper {c.line(names)}: not used")
    # A helper's slots: the jobs the user gave it, else its own limit and one more, so that
    # the client preprocesses the next compile while the helper runs one (distccd keeps the
    # extra connection waiting until a worker is free).
    helpers = [(c.host, c.host.jobs or (c.jobs or DEFAULT_JOBS) + QUEUED) for c in usable]
    jobs = local + sum(j for _, j in helpers)
    names = ", ".join(f"{h.label} ({j})" for h, j in helpers)
    log.info(f"distributing compiles to {names}; -j{jobs}")
    return Plan(distcc_hosts(helpers, local), jobs, tuple(h for h, _ in helpers))


def gone(used: tuple[Host, ...]) -> tuple[Host, ...]:
    """The helpers of a build that no longer answer (their jobs were retried elsewhere)."""
    return tuple(host for host in used if not helper.answers(host))
