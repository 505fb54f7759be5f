"""Native twins: the amd64 build of exactly the version of a program a Debian-family root
has installed, from the root's own archive, verified through its signed indexes.

    deb822.py   Debian's control-file format: dpkg status, Packages, Release (pure)
    select.py   which amd64 packages twin which of the root's, and what they need (pure)
    archive.py  the archive's signed index and .debs: fetched, verified, extracted, cached
"""
