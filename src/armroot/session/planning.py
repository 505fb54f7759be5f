"""The env's part of a session plan, made afresh: what the cache had no current record of.

The one place a session reads the store and decides on native compilers; imported by
:func:`armroot.session.run.run` only on a cache miss (it brings the store, the native
toolchain set-up and their imports).
"""

from __future__ import annotations

from armroot import log
from armroot.host import qemu
from armroot.rootfs import arch as archmod
from armroot.rootfs import pacman
from armroot.session import cache
from armroot.session.inputs import EnvInputs
from armroot.session.request import Request
from armroot.store import lock as envlock
from armroot.store.envs import Env, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from armroot.accel.mounts import SessionAccel


def env_inputs(request: Request, env_dir: str, fd: int) -> EnvInputs:
    """Plan the env's part, then take the env's lock on ``fd`` (shared, waiting for a change
    to end; or exclusive for ``request.exclusive_for``) and keep the part in the cache if
    nothing it depends on changed while it was made and planning had nothing to warn about
    (a warning a cached plan would not repeat)."""
    store = Store()
    env = store.get(request.name)
    record = cache.usable_for(request)
    before = cache.base_fingerprint(env_dir, str(env.rootfs)) if record else None
    warned = log.warnings_given()
    accel = _accel(env, request, store) if request.accel != "none" else None
    inputs = EnvInputs(
        root=str(env.rootfs),
        qemu_cpu=env.meta.qemu_cpu,
        qemu_binds=qemu.qemu_binds(archmod.by_name(env.meta.arch)),
        accel_env=accel.env if accel else (),
        accel_ops=accel.ops if accel else (),
        user_namespace=accel.user_namespace if accel else False,
        pacman_wrapper=pacman.sandboxes_downloads(str(env.rootfs)),
        distribute_as=accel.distribute_as if accel else "",
        distribute_twins=accel.distribute_twins if accel else (),
    )
    if request.exclusive_for:
        envlock.exclusive(fd, env.name, request.exclusive_for)
    else:
        envlock.shared(fd, env.name, env_dir)
    if before is not None and log.warnings_given() == warned:
        _record(env, request.accel, before, inputs)
    return inputs


def _accel(env: Env, request: Request, store: Store) -> SessionAccel | None:
    from armroot.accel import setup
    from armroot.accel.probe import ProbeError
    from armroot.session.run import run

    def probe(script: str) -> str:
        # On an overlay: reading what gcc targets must not write a byte into the env (the
        # session it serves may be an --ephemeral one).
        argv = ("sh", "-c", script)
        probed = run(Request(env.name, argv, capture=True, accel="none", ephemeral=True))
        if probed.exit_code != 0:
            raise ProbeError(f"its gcc did not answer (exit status {probed.exit_code})")
        return probed.stdout

    return setup.for_session(env, store, request.board or env.meta.board, probe, request.accel)


def _record(env: Env, accel: str, before: tuple[object, ...], inputs: EnvInputs) -> None:
    """Keep the env's part of the plan in the cache, if nothing it depends on changed while
    it was made (the first session in an env discovers its compilers, and saves them)."""
    if cache.base_fingerprint(str(env.path), str(env.rootfs)) != before:
        return
    try:
        cache.save(str(env.path), accel, before, inputs)
    except OSError as exc:
        log.debug(f"the plan cache's record for '{env.name}' was not written: {exc}")
