"""Pack a root into a tarball with GNU tar: owners (numeric), modes, hard links, xattrs,
ACLs and file capabilities kept; one filesystem only (nothing a session mounted). What
:mod:`armroot.images.tarball` extracts again. An env's metadata may ride along as the first
member, :data:`META_MEMBER`, which armroot's own extraction takes out of the root."""

from __future__ import annotations

import tempfile
from pathlib import Path

from armroot.host import programs

META_MEMBER = ".armroot-env.json"
AUTO = "auto"  # by the target's suffix (.tar, .tar.gz, .tar.xz, .tar.zst, ...)
ZSTD = "zstd -T0 -3 -q"  # both cores, a third of the root's size (docs/benchmarks.md W5)


def argv(rootfs: Path, target: Path, compress: str, meta_dir: Path | None) -> list[str]:
    """The tar command line (pure)."""
    args = [
        "tar",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "--acls",
        "--one-file-system",
    ]
    args += ["--auto-compress"] if compress == AUTO else [f"--use-compress-program={compress}"]
    args += ["-cpf", str(target)]
    if meta_dir is not None:
        args += ["-C", str(meta_dir), META_MEMBER]
    return [*args, "-C", str(rootfs), "."]


def pack(rootfs: Path, target: Path, compress: str = AUTO, meta: str | None = None) -> None:
    """Write ``rootfs`` (and ``meta`` as :data:`META_MEMBER`) to ``target``."""
    with tempfile.TemporaryDirectory(prefix="armroot-meta-") as scratch:
        meta_dir = None
        if meta is not None:
            meta_dir = Path(scratch)
            (meta_dir / META_MEMBER).write_text(meta)
        programs.run(argv(rootfs, target, compress, meta_dir))
