"""Helpers shared by the disk-image tests of tests/fuzz (test_fuzz_partitions,
test_fuzz_image_root, test_fuzz_image_files), issue 20: :func:`bounded`, a call checked to
return quickly and within a memory bound.

What only one of those modules uses stays in that module."""

from __future__ import annotations

import signal
import time
import tracemalloc
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from tests.fuzz.properties import outcome

T = TypeVar("T")

# --- bounded: no hang, no unbounded allocation -------------------------------------------


class Hung(Exception):
    """Raised in the call under test when it runs too long (not an OSError: nothing in the
    code under test may swallow it)."""


def bounded(call: Callable[[], T], seconds: float = 5.0, mib: int | None = 48) -> T | str:
    """``outcome(call)``, checked to return within ``seconds`` and to allocate at most
    ``mib`` MiB at its peak (a huge entry count must not make armroot read gigabytes);
    ``mib=None``: time only (tracing allocations makes a call about 5 times slower)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    left, interval = signal.setitimer(signal.ITIMER_REAL, seconds)  # pytest-timeout's, if set
    started = time.monotonic()
    if mib is not None:
        tracemalloc.start()
    try:
        got = outcome(call)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if left:
            elapsed = time.monotonic() - started
            signal.setitimer(signal.ITIMER_REAL, max(left - elapsed, 0.001), interval)
    assert mib is None or peak <= mib << 20, f"allocated {peak / 2**20:.0f} MiB"
    return got
