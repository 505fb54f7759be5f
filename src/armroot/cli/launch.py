"""The `armroot` console script: the quick path for a plain `armroot run`, else the CLI."""

from __future__ import annotations

import os
import sys


def entry() -> None:
    """Exit with the quick path's status, or hand over to :func:`armroot.cli.entry`."""
    from armroot.session import cache as quickrun

    try:
        code = quickrun.main(sys.argv[1:])
    except KeyboardInterrupt:  # before the session began (it blocks ^C and passes it on)
        sys.stderr.write("armroot: interrupted\n")
        code = 130
    if code is None:
        from armroot.cli.main import entry as full

        full()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
