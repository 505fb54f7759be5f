"""What a mirror's Packages index says of a twin (twins.archive.tree): its sha256 names the
cache's directories and its Filename the URL, so neither may point anywhere else."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from armroot.twins import archive
from armroot.twins.deb822 import Package
from armroot.twins.sources import AptSource
from tests.fuzz.properties import Witness, clean_failure

NOWHERE = AptSource("http://127.0.0.1:9/debian", "trixie", ("main",))  # nothing listens
HEX = "0123456789abcdef"
SHA256 = st.one_of(
    st.text(HEX, min_size=64, max_size=64),
    st.sampled_from(["", ".", "..", "../../witness", "/", "*", HEX * 4 + "/x", HEX.upper() * 4]),
    st.text(max_size=70),
)
FILENAME = st.one_of(
    st.just("pool/main/s/sed/sed_4.9-2_amd64.deb"),
    st.sampled_from(["", "/etc/shadow", "../../x.deb", "pool/../../x", "a b.deb", "a\nb"]),
    st.text(max_size=40),
)


@given(SHA256, FILENAME)
def test_an_index_entry_never_names_another_place_in_the_cache(sha256: str, filename: str) -> None:
    package = Package("sed", "4.9-2", "amd64", "sed", "4.9-2", filename=filename, sha256=sha256)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        witness = Witness(cache / "twins" / "trees" / "witness")
        debs = Witness(cache / "twins" / "debs" / "witness")
        try:
            archive.tree(NOWHERE, package, cache)
        except archive.TwinUnavailable as exc:  # refused, or the mirror cannot be reached
            clean_failure(exc)
        else:
            raise AssertionError("a tree from a mirror nobody serves")
        assert witness.unchanged() and debs.unchanged()
        assert sorted(p.name for p in (cache / "twins" / "trees").iterdir()) == ["witness"]


def test_regression_an_empty_sha256_is_refused_before_it_names_the_trees_directory() -> None:
    """Found reading tree() after test_fuzz_indexes found that a Packages entry without a
    valid SHA256 keeps sha256 "": trees/"" is the trees directory itself, which tree()
    would have removed as an altered twin."""
    package = Package("sed", "4.9-2", "amd64", "sed", "4.9-2", filename="pool/x.deb")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        trees = cache / "twins" / "trees"
        (trees / ("0" * 64)).mkdir(parents=True)
        try:
            archive.tree(NOWHERE, package, cache)
        except archive.TwinUnavailable as exc:
            assert "unusable sha256 or Filename" in clean_failure(exc)
        assert (trees / ("0" * 64)).is_dir()


def test_a_deb_that_does_not_match_the_signed_index_is_refused_and_not_kept() -> None:
    """The archive (a server on 127.0.0.1) serves other bytes than its index's sha256 says:
    one line naming both sha256s; no .deb kept, no tree made."""
    import hashlib
    import http.server
    import threading

    served = b"!<arch>\nnot the package the index lists\n"

    class Mirror(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(served)))
            self.end_headers()
            self.wfile.write(served)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        mirror = AptSource(f"http://127.0.0.1:{server.server_port}/debian", "trixie", ("main",))
        listed = hashlib.sha256(b"the real package").hexdigest()
        package = Package(
            "sed", "4.9-2", "amd64", "sed", "4.9-2", filename="pool/s.deb", sha256=listed
        )
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            try:
                archive.tree(mirror, package, cache)
            except archive.TwinUnavailable as exc:
                line = clean_failure(exc)
            else:
                raise AssertionError("a .deb that is not the index's was used")
            assert "does not match the archive's signed index" in line
            assert hashlib.sha256(served).hexdigest() in line and listed in line
            assert list((cache / "twins/debs").iterdir()) == [cache / "twins/debs/.lock"]
            assert not (cache / "twins/trees").exists()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
