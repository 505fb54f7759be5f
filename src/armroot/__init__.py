"""armroot: run a Raspberry Pi's own Linux distribution on x86_64 under QEMU user-mode emulation.

The library API lives in :mod:`armroot.commands`; the CLI in :mod:`armroot.cli` is a thin layer
over it.
"""

__version__ = "0.1.0"
