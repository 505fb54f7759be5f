"""`armroot create`: make an environment from Debian, a catalogue image, a URL or a file."""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from typing import NamedTuple

from armroot import __version__, log
from armroot.errors import ArmrootError, SourceError, UsageError
from armroot.host import openpgp, privileges, programs, qemu
from armroot.images import (
    bootstrap_twins,
    bootstraps,
    catalogue,
    debian,
    diskimage,
    download,
    indexes,
    tarball,
)
from armroot.images import source as sourcemod
from armroot.images.catalogue import OPENPGP, SHA256, SHA256_FILE
from armroot.rootfs import arch as archmod
from armroot.rootfs import boards
from armroot.rootfs.arch import Arch, CpuLevel, Emulation
from armroot.rootfs.boards import Board
from armroot.rootfs.info import RootInfo, inspect
from armroot.rootfs.paths import resolve_in_root
from armroot.store.envs import Env, EnvMeta, Store, cache_home
from armroot.store.names import check_name
from armroot.store.tree import dir_size, safe_remove


class CreateOptions(NamedTuple):
    name: str
    source: str | None = None  # None: the default for the board, else debian:trixie
    arch: str | None = None
    include: tuple[str, ...] = ()  # added to the default set (or to none with minimal)
    minimal: bool = False
    mirror: str | None = None
    board: str | None = None
    sha256: str | None = None  # pins a URL's checksum
    no_verify: bool = False  # accept an unverified download (explicit only)
    cache: str = "auto"  # cached Debian bootstraps: one of CACHE_POLICIES


# auto: restore the cached bootstrap made from the archive's current Release, else bootstrap
# and keep it; refresh: bootstrap anew (and keep it); offline: the newest cached one, without
# asking the archive; off: bootstrap and keep nothing.
CACHE_POLICIES = ("auto", "refresh", "offline", "off")
# the same words for the publishers' indexes (images/indexes.py): off keeps them as auto does
INDEX_POLICY = {"auto": "auto", "refresh": "refresh", "offline": "offline", "off": "auto"}


def default_source(board: Board | None) -> str:
    """The image a board gets when --from is not given."""
    if board is None or board.qemu_cpu_64 is not None:
        return sourcemod.DEFAULT_SOURCE  # Debian trixie arm64 (64-bit boards: Pi 3 and newer)
    if board.cpu_level is CpuLevel.V7:
        return "debian:trixie-armhf"
    return "raspios:lite-armhf"  # ARMv6 hard-float: only Raspberry Pi OS ships that


def expected_checksum(src: sourcemod.RemoteSource, options: CreateOptions) -> download.Expected:
    """What the download must hash to, found before anything is downloaded."""
    if options.sha256:
        value = options.sha256.lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise UsageError(f"--sha256 {options.sha256} is not a sha256", "give 64 hex digits")
        return download.Expected("sha256", value, "--sha256")
    if src.verify == SHA256:
        return download.Expected("sha256", src.checksum, f"pinned in the catalogue for {src.label}")
    name = download.filename(src.url)
    if src.verify == SHA256_FILE:
        text = download.fetch_text(src.checksum)
        return download.Expected(
            "sha256", download.parse_checksum_file(text, name, "sha256"), src.checksum
        )
    if options.no_verify:
        return download.Expected("sha256", "", "nothing (--no-verify)", unverified=True)
    sidecar = src.url + ".sha256"
    try:
        text = download.fetch_text(sidecar)
    except SourceError as exc:
        raise SourceError(
            f"no checksum is known for {src.url} (no {name}.sha256 beside it)",
            "pass --sha256 HEX from the publisher, or --no-verify to accept it unverified",
        ) from exc
    return download.Expected("sha256", download.parse_checksum_file(text, name, "sha256"), sidecar)


def _fetch(src: sourcemod.RemoteSource, options: CreateOptions) -> tuple[Path, str]:
    """The verified local copy of ``src``: from the cache when it was verified before."""
    if src.verify == OPENPGP and not options.sha256:
        return _fetch_signed(src, INDEX_POLICY[options.cache])
    with log.step(f"Fetching {src.describe()}"):
        pinned = options.sha256 or (src.checksum if src.verify == SHA256 else None)
        hit = download.cached(src.url, pinned.lower() if pinned else None)
        if hit is not None:
            log.info(f"    using the cached copy (sha256 {hit.sha256[:12]}…)")
        else:
            hit = download.download(src.url, expected_checksum(src, options))
    return hit.path, hit.sha256


def _fetch_signed(src: sourcemod.RemoteSource, policy: str) -> tuple[Path, str]:
    """A download its detached signature vouches for: the cached copy if the signature
    (kept for a day like an index, else fetched anew) verifies it, else a new download that
    must verify before it is kept. A "latest" file changes under one URL: its signature
    says which."""
    programs.require_program("gpgv")  # before anything is downloaded
    keys, fingerprints = catalogue.pinned_key(src.key)
    override = catalogue.key_override(src.key)
    if override:
        log.warn(f"{src.describe()} is checked against the key in {override}, not armroot's")
    name = download.filename(src.url)

    def verify(path: Path, signature: indexes.Index) -> openpgp.Verified:
        with tempfile.NamedTemporaryFile(prefix="armroot-", suffix=".sig") as sig:
            sig.write(signature.body)
            sig.flush()
            return openpgp.verify_detached(keys, Path(sig.name), path, fingerprints, name)

    def say(done: openpgp.Verified) -> None:
        log.info(f"    signed {done.created:%Y-%m-%d} by key {done.fingerprint}")

    def cached_if_signed(signature: indexes.Index) -> download.Cached | None:
        if hit is None:
            return None
        try:
            say(verify(hit.path, signature))
        except SourceError:
            return None  # a newer release since, or a damaged copy
        log.info(f"    using the cached copy (sha256 {hit.sha256[:12]}…)")
        return hit

    with log.step(f"Fetching {src.describe()}"):
        hit = download.cached(src.url)
        what = f"the signature of {src.describe()}"
        # like an index: the signature fetched within a day serves (auto), or a new one
        started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        signature = indexes.load(src.checksum, what, policy)
        found = cached_if_signed(signature)
        kept = signature.fetched < started
        if found is None and hit is not None and kept and policy != "offline":
            signature = indexes.load(src.checksum, what, "refresh")  # a newer one signs it?
            found = cached_if_signed(signature)
        if found is not None:
            return found.path, found.sha256
        if hit is not None:
            log.info("    the cached copy is not the release now signed: downloading it")
        if policy == "offline":
            raise SourceError(
                f"no cached copy of {src.describe()} matches its kept signature",
                "drop --offline to download it",
            )
        said: list[openpgp.Verified] = []

        def check(path: Path) -> None:
            try:
                said.append(verify(path, signature))
            except SourceError:
                indexes.drop(src.checksum)  # a signature that failed is not kept either
                raise

        hit = download.download(
            src.url, download.Expected("sha256", "", f"its signature {src.checksum}", check=check)
        )
        say(said[0])
    return hit.path, hit.sha256


def _emulation(arch: Arch, info: RootInfo, board: Board | None) -> Emulation:
    if board is None:
        return archmod.default_emulation(arch, info.cpu_level)
    cpu = board.qemu_cpu(arch)
    if arch is archmod.ARM64:
        return Emulation(cpu, "aarch64")
    return Emulation(cpu, "armv6l" if board.cpu_level is CpuLevel.V6 else "armv7l")


def create(options: CreateOptions, store: Store | None = None) -> Env:
    """Create an environment atomically: nothing is registered unless everything worked."""
    store = store or Store()
    check_name(options.name)
    board = boards.by_name(options.board) if options.board else None
    if options.cache not in CACHE_POLICIES:
        raise UsageError(f"unknown bootstrap cache policy {options.cache!r}", "see --help")
    src = sourcemod.parse(options.source or default_source(board), INDEX_POLICY[options.cache])
    wanted = archmod.by_name(options.arch) if options.arch else None
    if isinstance(src, sourcemod.DebianSource | sourcemod.RemoteSource) and src.arch:
        listed = archmod.by_name(src.arch)
        if wanted is not None and wanted is not listed:
            raise UsageError(
                f"{src.describe()} is {listed.name}, not {wanted.name}",
                f"drop --arch, or pick an {wanted.name} image",
            )
        wanted = listed
    if board is not None and not isinstance(src, sourcemod.FileSource):
        supported = src.boards or ()
        if supported and board.name not in supported:
            why = src.unsupported if isinstance(src, sourcemod.RemoteSource) else ""
            raise UsageError(
                f"{src.describe()} does not run on {board.name}" + (f": {why}" if why else ""),
                f"it supports {', '.join(supported)}",
            )
    plan = None
    if isinstance(src, sourcemod.DebianSource):
        arch = wanted or archmod.ARM64
        if options.cache != "offline":
            programs.require_program("mmdebstrap")
            qemu.qemu_binds(arch)  # mmdebstrap runs the root's maintainer scripts under QEMU
        base = () if options.minimal else debian.DEFAULT_INCLUDE
        include = tuple(dict.fromkeys(base + options.include))
        mirror = options.mirror or sourcemod.DEFAULT_MIRROR
        verbose = log.VERBOSITY.get() >= log.Verbosity.VERBOSE
        hooks = bootstrap_twins.hooks_for(
            arch.triple, archmod.uname_machine(arch, None), cache_home(), verbose
        )
        plan = debian.DebianBootstrap(src.suite, arch, mirror, include, twins=hooks)
    store.require_absent(options.name)  # before any download or bootstrap
    local: Path | None = None
    sha256 = ""
    if isinstance(src, sourcemod.RemoteSource):
        local, sha256 = _fetch(src, options)
    elif isinstance(src, sourcemod.FileSource):
        local = src.path
    with store.staging(options.name) as staging:
        rootfs = staging / "rootfs"
        work = staging / "work"
        work.mkdir()
        exported = _fill_root(src, plan, local, rootfs, work, options.cache, sha256)
        safe_remove(work)
        info = inspect(rootfs, src.describe())
        _check_arch(info, wanted, src.describe())
        if exported is not None and board is None and exported.board:
            board = boards.by_name(exported.board)  # the exporting env's, unless --board
        if board is not None and not board.runs(info.arch, info.cpu_level):
            level = info.cpu_level.value if info.cpu_level else "?"
            raise SourceError(
                f"{src.describe()} is an {info.arch.name} ({level}) root, "
                f"which {board.name} cannot run",
                f"pick an image for {board.name}: {', '.join(_images_for(board))}",
            )
        emu = _emulation(info.arch, info, board)
        meta = EnvMeta(
            name=options.name,
            arch=info.arch.name,
            source=exported.source if exported is not None else src.describe(),
            created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            cpu_level=info.cpu_level.value if info.cpu_level else None,
            qemu_cpu=emu.qemu_cpu,
            uname_machine=emu.uname_machine,
            os_name=info.os_name,
            size_bytes=dir_size(rootfs),
            armroot_version=__version__,
            board=board.name if board else None,
            source_sha256=sha256 or None,
            gcc_target=exported.gcc_target if exported is not None else None,
        )
        return store.commit(staging, meta)


def _fill_root(
    src: sourcemod.Source,
    plan: debian.DebianBootstrap | None,
    local: Path | None,
    rootfs: Path,
    work: Path,
    cache: str,
    sha256: str,
) -> EnvMeta | None:
    """Bootstrap, restore, extract or copy the root into ``rootfs`` (``work`` is scratch
    space); the metadata of an env `armroot export` packed, if the tarball carries it."""
    if plan is not None:
        _debian_root(plan, rootfs, cache)
        return None
    assert local is not None and not isinstance(src, sourcemod.DebianSource)
    rootfs.mkdir(mode=0o755)
    if src.kind == sourcemod.DISK_IMAGE:
        with log.step(f"Reading disk image {local.name}"):
            expected = src.extract_sha256 if isinstance(src, sourcemod.RemoteSource) else ""
            try:
                image = diskimage.prepare(local, work, expected)
            except diskimage.ImageMismatch:
                download.drop(sha256)  # verified by its .sha256, yet not the index's image
                raise
            diskimage.extract(image, rootfs, work, devices=privileges.is_host_root())
        return None
    with log.step(f"Extracting {local.name}"):
        report = tarball.extract(local, rootfs, devices=privileges.is_host_root())
        log.info(f"    {report.entries} entries, {report.bytes_written / 2**20:.0f} MiB")
    if isinstance(src, sourcemod.RemoteSource) and src.verify == OPENPGP:
        _same_key_inside(src, rootfs)
    if report.meta is None:
        return None
    try:
        exported = exported_meta(report.meta, local.name)
    except SourceError as exc:
        log.warn(f"{exc.message}: ignored")
        return None
    if exported.board is not None and exported.board not in boards.ALL_NAMES:
        log.warn(f"{local.name} was exported for board {exported.board!r}, unknown here")
        exported = exported._replace(board=None)
    log.info(
        f"    exported from '{exported.name}' ({exported.source}): its board and gcc target kept"
    )
    return exported


def exported_meta(raw: bytes, origin: str) -> EnvMeta:
    """The metadata `armroot export` put in ``origin`` (pack.META_MEMBER): a stranger's
    bytes, so anything but a JSON object of EnvMeta's fields is a SourceError."""
    try:
        return EnvMeta.from_json(raw.decode())
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{origin} carries unreadable armroot metadata ({exc})") from exc


def _same_key_inside(src: sourcemod.RemoteSource, rootfs: Path) -> None:
    """The key that verified the image should be the one the distribution's own keyring
    package holds in the root: say if it is not (a key change armroot has not caught up
    with, or an image that is not what it claims)."""
    pinned = catalogue.PINNED.get(src.key)
    if pinned is None:
        return
    ring = resolve_in_root(rootfs, pinned.keyring)
    if not ring.is_file():
        log.warn(f"{src.describe()} has no {pinned.keyring}: its keyring package is missing")
        return
    keys, fingerprints = catalogue.pinned_key(src.key)
    wanted = set(fingerprints or openpgp.fingerprints(keys))
    if wanted & set(openpgp.fingerprints(ring.read_bytes())):
        log.info(f"    {pinned.keyring} in the root holds the same key")
    else:
        log.warn(
            f"{pinned.keyring} in the root does not hold the key that verified the image "
            f"({', '.join(sorted(wanted))})"
        )


def _debian_root(plan: debian.DebianBootstrap, rootfs: Path, cache: str) -> None:
    """The root ``plan`` describes: restored from the cached bootstrap of its key and the
    archive's Release, or bootstrapped with mmdebstrap (and kept) (:data:`CACHE_POLICIES`)."""
    key = bootstraps.Key.of(plan.suite, plan.arch.name, plan.variant, plan.include, plan.mirror)
    if cache == "off":
        _bootstrap(plan, rootfs)
        return
    release = None if cache == "offline" else bootstraps.archive_release(key)
    with bootstraps.locked(key):
        entry = None if cache == "refresh" else bootstraps.lookup(key, release)
        if entry is not None:
            problem = bootstraps.intact(entry)
            if problem is not None:
                log.warn(
                    f"the cached bootstrap of {key.describe()} is unusable ({problem}): dropped"
                )
                bootstraps.drop(entry)
                entry = None
        if entry is not None:
            title = f"Restoring {key.describe()} from the cached bootstrap ({entry.release.date})"
            with log.step(title):
                rootfs.mkdir(mode=0o755)
                report = tarball.extract(entry.tarball, rootfs, devices=privileges.is_host_root())
                log.info(f"    {report.entries} entries, {report.bytes_written / 2**20:.0f} MiB")
            return
        if release is None:
            raise SourceError(
                f"no cached bootstrap of {key.describe()} from {key.mirror}",
                "drop --offline to bootstrap it from the archive",
            )
        _bootstrap(plan, rootfs)
        try:
            bootstraps.save(key, release, rootfs)
        except (OSError, ArmrootError) as exc:  # the env is made; only the copy is missing
            log.warn(f"the bootstrap was not kept in the cache ({exc}); the env is complete")


def _bootstrap(plan: debian.DebianBootstrap, rootfs: Path) -> None:
    with log.step(f"Bootstrapping Debian {plan.suite} {plan.arch.name} with mmdebstrap"):
        debian.bootstrap(plan, rootfs)


def _images_for(board: Board) -> list[str]:
    return catalogue.ids_for(board)[:4]


def _check_arch(info: RootInfo, wanted: Arch | None, label: str) -> None:
    if wanted is not None and info.arch != wanted:
        raise SourceError(
            f"{label} is an {info.arch.name} root, not {wanted.name} as asked",
            f"use --arch {info.arch.name}, or give a {wanted.name} root",
        )
