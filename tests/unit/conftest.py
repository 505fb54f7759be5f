"""Unit tests touch nothing outside the process: subprocesses and forks raise."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest


class _Forbidden(AssertionError):
    pass


def _forbid(*args: Any, **kwargs: Any) -> Any:
    raise _Forbidden("unit tests must not start processes; write an integration test instead")


@pytest.fixture(autouse=True)
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "__init__", _forbid)
    monkeypatch.setattr(os, "fork", _forbid)
    monkeypatch.setattr(os, "execvpe", _forbid)
