"""The VM's serial console, read by the host: boot messages kept aside, the command's output
passed on, its exit status read from the end marker. Pure."""

from __future__ import annotations

import re

from armroot.vm.machine import MARK_BEGIN, MARK_END

BOOT_LOG_LIMIT = 64 * 1024  # the tail of the boot messages kept for an error report


class ConsoleFilter:
    """Feed it what QEMU writes; it returns what belongs to the command.

    Before ``MARK_BEGIN<nonce>@@\\n`` everything is the boot (kept, not shown); after it,
    bytes go out as they come, except a tail that could be the start of the end marker,
    which waits for the next chunk. ``MARK_END<nonce>:<status>@@`` ends it.
    """

    def __init__(self, nonce: str) -> None:
        self._begin = f"{MARK_BEGIN}{nonce}@@\n".encode()
        self._end = f"{MARK_END}{nonce}:".encode()
        self._end_re = re.compile(re.escape(self._end) + rb"(\d+)@@")
        self._pending = b""
        self.boot_log = b""
        self.started = False
        self.status: int | None = None

    def feed(self, data: bytes) -> bytes:
        if self.status is not None:
            return b""
        if not self.started:
            self.boot_log = (self.boot_log + data)[-BOOT_LOG_LIMIT - len(self._begin) :]
            at = self.boot_log.find(self._begin)
            if at < 0:
                return b""
            self.started = True
            data = self.boot_log[at + len(self._begin) :]
            self.boot_log = self.boot_log[:at]
        self._pending += data
        match = self._end_re.search(self._pending)
        if match:
            self.status = int(match.group(1))
            out = self._pending[: match.start()]
            self._pending = b""
            return out
        keep = _partial_suffix(self._pending, self._end)
        out = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(self._pending) - keep :]
        return out

    def flush(self) -> bytes:
        """What is left when the console closes without the end marker."""
        out, self._pending = self._pending, b""
        return out if self.started else b""

    def boot_tail(self, lines: int = 15) -> str:
        text = self.boot_log.decode("utf-8", "replace").replace("\r", "")
        return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def _partial_suffix(data: bytes, marker: bytes) -> int:
    """How many bytes at the end of ``data`` could begin ``marker`` (or the marker with its
    status, not yet complete)."""
    at = data.find(marker[:1], max(0, len(data) - len(marker) - 16))
    while at >= 0:
        tail = data[at:]
        if marker.startswith(tail) or tail.startswith(marker):
            return len(data) - at
        at = data.find(marker[:1], at + 1)
    return 0
