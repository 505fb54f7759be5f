"""What the verbs print: JSON, sizes, and the text layouts of list, info, images, cache,
boards and doctor."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from armroot import log

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from armroot.commands.manage import EnvStatus
    from armroot.host.checks import DoctorReport
    from armroot.images.bootstraps import Entry as Bootstrap
    from armroot.images.catalogue import Entry
    from armroot.images.download import CacheItem
    from armroot.rootfs.boards import Board


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def human_size(n: int) -> str:
    """``n`` bytes as B, KiB, MiB or GiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def status_dict(s: EnvStatus) -> dict[str, Any]:
    """An environment's metadata with its path and whether it is in use."""
    data = s.meta._asdict()
    data.update(path=s.path, in_use=s.in_use)
    if s.native:
        data.update(native=list(s.native))
    return data


def envs(statuses: Sequence[EnvStatus], as_json: bool) -> None:
    """`armroot list`."""
    if as_json:
        print_json([status_dict(s) for s in statuses])
    elif not statuses:
        log.info("no environments yet; create one with `armroot create NAME`")
    else:
        for s in statuses:
            used = "  (in use)" if s.in_use else ""
            print(
                f"{s.meta.name:<16} {s.meta.arch:<6} {human_size(s.meta.size_bytes):>10}  "
                f"{s.meta.os_name or s.meta.source}{used}"
            )


def env(s: EnvStatus, as_json: bool) -> None:
    """`armroot info`: one line per field that has a value."""
    if as_json:
        print_json(status_dict(s))
        return
    for key, value in status_dict(s).items():
        if key == "size_bytes":
            value = human_size(int(value))
        if key == "gcc_target" and isinstance(value, dict):
            key = "clang target"
            value = value.get("problem") or " ".join(
                [str(value.get("triple")), *map(str, value.get("flags") or ())]
            )
        if key == "native" and isinstance(value, list):
            for line in value:
                what, sep, rest = str(line).partition(": ")
                label, text = (
                    (what, rest) if sep and what in ("native", "emulated") else ("programs", line)
                )
                print(f"{label + ':':<16} {text}")
            continue
        if value not in (None, {}, ""):
            print(f"{key + ':':<16} {value}")


def images(entries: Sequence[Entry], as_json: bool) -> None:
    """`armroot images`: each entry, its boards and how it is verified."""
    if as_json:
        print_json([e._asdict() | {"verification": e.describe_verification()} for e in entries])
        return
    width = max([26, *(len(e.id) + 1 for e in entries)])
    for e in entries:
        size = human_size(e.size) if e.size else "-"
        print(f"{e.id:<{width}} {e.arch:<6} {size:>10}  {e.title}")
        if e.released:
            print(f"{'':<{width}} released: {e.released}")
        print(f"{'':<{width}} boards: {', '.join(e.boards)}")
        print(f"{'':<{width}} verified by: {e.describe_verification()}")


def cache(
    items: Sequence[CacheItem],
    partials: Sequence[Path],
    bootstraps: Sequence[Bootstrap],
    as_json: bool,
) -> None:
    """`armroot cache list`: verified downloads, partial ones, then cached bootstraps."""
    if as_json:
        print_json(
            {
                "downloads": [i._asdict() for i in items],
                "partial": [str(p) for p in partials],
                "bootstraps": [
                    dataclasses.asdict(b) | {"path": str(b.tarball)} for b in bootstraps
                ],
            }
        )
        return
    for item in items:
        print(f"{item.sha256[:16]}  {human_size(item.size):>10}  {item.name}")
    for partial in partials:
        print(f"{'(partial)':<16}  {human_size(partial.stat().st_size):>10}  {partial.name}")
    for entry in bootstraps:
        print(
            f"{'(bootstrap)':<16}  {human_size(entry.size):>10}  {entry.key.describe()} "
            f"from {entry.key.mirror}, Release of {entry.release.date}"
        )
    if not items and not partials and not bootstraps:
        log.info("the cache is empty")


def boards(known: Sequence[Board], as_json: bool) -> None:
    """`armroot boards`."""
    if as_json:
        print_json([b._asdict() | {"cpu_level": b.cpu_level.value} for b in known])
        return
    for b in known:
        bits = "32/64-bit" if b.qemu_cpu_64 else "32-bit"
        pages = f"{b.page_kib} KiB pages"
        print(f"{b.name:<10} ARM{b.cpu_level.value:<5} {bits:<9} {pages:<13}  {b.title}")


def doctor(report: DoctorReport, as_json: bool) -> None:
    """`armroot doctor`: what --fix fixed, then each check with its fix."""
    if as_json:
        print_json(dataclasses.asdict(report) | {"ok": report.ok})
        return
    for line in report.fixed:
        print(f"fixed: {line}")
    for c in report.checks:
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[c.status]
        print(f"[{mark}] {c.name}: {c.detail}" + (f"\n       fix: {c.fix}" if c.fix else ""))
