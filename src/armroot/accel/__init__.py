"""Native-speed compilers inside an emulated root.

binfmt_misc sends only ARM binaries to QEMU: a static x86_64 program runs natively even
inside an ARM root. armroot binds a static clang + lld (the ``ziglang`` wheel's ``zig``)
read-only into each session behind a tiny static shim (``shim.c``) named cc, gcc, c++, g++,
ar, ranlib, ld.lld ..., first on PATH. The compiler gets the target defaults of the root's own
gcc (:mod:`armroot.accel.probe`, discovered once per env and checked macro by macro) and the
root's headers, libraries and crt files; an invocation it cannot handle goes to the root's gcc.

- :mod:`armroot.accel.probe`: pure: parse what the root's gcc reports, translate it into
  clang flags, compare predefined macros, put a board's CPU in.
- :mod:`armroot.accel.shim`: pure: the shim's configuration (its names, each tool's native
  command line, what goes to the root's gcc).
- :mod:`armroot.accel.mounts`: pure: the session's mounts and environment;
  :mod:`armroot.accel.layout` says where each part appears inside the root.
- :mod:`armroot.accel.toolchain`: the host side: find zig, build the shim and the uname
  preload (cached).
- :mod:`armroot.accel.cmake`: a native cmake of the root's exact version, run with the
  host's loader, the root's own modules and uname answering as the board.
- :mod:`armroot.accel.setup`: decide, for one session, whether and how to accelerate.
"""
