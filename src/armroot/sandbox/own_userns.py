"""Run a command as root of a user namespace of its own, every id of this one mapped to
itself, in a private mount namespace of that user namespace:

    python -m armroot.sandbox.own_userns -- ARGV...

This process unshares its user namespace, a child it forked (still outside, with this
namespace's privileges) writes the identity maps, then this process unshares its mount
namespace, makes every mount private and becomes ARGV (the same process: signals reach it
as they would without the wrapper). Its mounts vanish with it, and a binfmt_misc it mounts
is that user namespace's own (Linux >= 6.7), never the host's. Device nodes cannot be made
there (mknod needs the initial user namespace). Light (see :mod:`armroot.session`)."""

from __future__ import annotations

import os
import sys

from armroot.host import syscalls as sc

EXIT_SETUP = 125  # the namespaces could not be made (said on stderr)


def identity_map(current: str) -> str:
    """A uid_map or gid_map that maps every id of ``current`` (this namespace's map) to
    itself (pure)."""
    lines = []
    for line in current.splitlines():
        words = line.split()
        if len(words) == 3:
            lines.append(f"{words[0]} {words[0]} {words[2]}")
    return "\n".join(lines) + "\n"


def map_ids(pid: int) -> None:
    """Give process ``pid``'s new user namespace this one's ids (written from outside it)."""
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/self/{name}") as mine:
            wanted = identity_map(mine.read())
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, wanted.encode())
        finally:
            os.close(fd)


def enter() -> None:
    """Make this process root of a user namespace of its own with this one's ids, in a
    private mount namespace. OSError if the kernel refuses."""
    me = os.getpid()
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:  # outside: wait for the new namespace, map it, report
        os.close(ready_w)
        os.close(done_r)
        status = b"x"
        try:
            if os.read(ready_r, 1) == b"u":
                map_ids(me)
                status = b"m"
        except OSError:
            pass
        finally:
            os.write(done_w, status)
            os._exit(0)
    os.close(ready_r)
    os.close(done_w)
    try:
        sc.unshare(sc.CLONE_NEWUSER)
    except OSError:
        os.close(ready_w)
        os.waitpid(child, 0)
        raise
    os.write(ready_w, b"u")
    os.close(ready_w)
    mapped = os.read(done_r, 1) == b"m"
    os.close(done_r)
    os.waitpid(child, 0)
    if not mapped:
        raise OSError("the new user namespace could not be given this one's ids")
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m armroot.sandbox.own_userns -- ARGV...", file=sys.stderr)
        return 2
    try:
        enter()
    except OSError as exc:
        print(f"armroot: cannot make a user namespace of its own: {exc}", file=sys.stderr)
        return EXIT_SETUP
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"armroot: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
