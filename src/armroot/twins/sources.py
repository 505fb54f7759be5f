"""The root's apt sources: one-line ``sources.list`` entries and deb822 ``.sources`` files.
Pure (the texts are read by the caller, inside the root)."""

from __future__ import annotations

from typing import NamedTuple

from armroot.twins.deb822 import paragraphs


class AptSource(NamedTuple):
    uri: str  # without a trailing slash
    suite: str
    components: tuple[str, ...]
    signed_by: tuple[str, ...] = ()  # keyring paths inside the root, if the entry names them


def one_line(text: str) -> list[AptSource]:
    """``deb [options] URI SUITE COMPONENT...`` lines (deb-src and comments left out)."""
    found = []
    for raw in text.split("\n"):  # apt ends lines at newlines only (not at U+2028...)
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        words = line.split()[1:]
        signed_by: tuple[str, ...] = ()
        if words and words[0].startswith("["):
            options = []
            while words:
                word = words.pop(0)
                options.append(word.strip("[]"))
                if word.endswith("]"):
                    break
            for option in options:
                key, _, value = option.partition("=")
                if key == "signed-by":
                    signed_by = tuple(v for v in value.split(",") if v)
        if len(words) >= 3 and words[0].rstrip("/"):
            found.append(AptSource(words[0].rstrip("/"), words[1], tuple(words[2:]), signed_by))
    return found


def deb822_sources(text: str) -> list[AptSource]:
    """A ``.sources`` file: each paragraph with ``Types: deb`` (and ``Enabled`` not no), one
    source per URI and suite."""
    found = []
    for fields in paragraphs(text):
        if "deb" not in fields.get("Types", "").split():
            continue
        if fields.get("Enabled", "yes").strip().lower() == "no":
            continue
        signed = fields.get("Signed-By", "").strip()
        # Signed-By holds a path, or (since apt 2.3) the key itself: only paths are used.
        signed_by = tuple(signed.split()) if signed.startswith("/") else ()
        for uri in fields.get("URIs", "").split():
            if not uri.rstrip("/"):
                continue  # "/": no archive's address
            for suite in fields.get("Suites", "").split():
                components = tuple(fields.get("Components", "").split())
                found.append(AptSource(uri.rstrip("/"), suite, components, signed_by))
    return found
