"""A session, from request to outcome.

    request.py   what a session is asked to do (:class:`~armroot.session.request.Request`)
    run.py       run(request): the one path, from the env lock to the outcome
    cache.py     the env's part of the plan, kept with a fingerprint of what made it
    planning.py  that part made afresh on a cache miss (the store, native compilers)
    inputs.py    the plan's inputs: the env's part and the request's part
    plan.py      the plan itself (mounts, environment): pure

**The light rule.** `armroot run` must start within a few tens of milliseconds of a bare
chroot, and Python spends most of that importing. So the modules on its path — the
launcher (:mod:`armroot.cli.launch`, :mod:`~armroot.cli.plain`, :mod:`~armroot.cli.table`),
this package except :mod:`~armroot.session.planning`, the sandbox, :mod:`armroot.log`,
:mod:`armroot.errors`, :mod:`armroot.tuples`, and the low-level rules they use
(:mod:`armroot.store.home`, :mod:`~armroot.store.names`, :mod:`~armroot.store.lock`,
:mod:`armroot.host.privileges`, :mod:`armroot.host.syscalls`, :mod:`armroot.rootfs.paths`)
— import none of :data:`COSTLY` when they load; what else they need they import where it
is used. A module that keeps this rule says "Light (see :mod:`armroot.session`)" in its
docstring; tests/unit/test_layers.py checks each one, and tests/integration/test_cache.py
checks a real `armroot run`.
"""

COSTLY = (
    "typing",
    "re",
    "enum",
    "json",
    "pathlib",
    "contextlib",
    "collections",
    "argparse",
    "rich",
)
