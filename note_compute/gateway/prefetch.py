"""Which files a page will ask for next (pure): references in HTML and CSS.

When the gateway serves a page it already holds the site manifest, so it can
fetch every file the page refers to at once, in parallel, while the browser
is still parsing: the browser's own requests (six connections at a time
over HTTP/1.1) then find them verified in the cache. Only same-site paths
that the manifest lists are taken; a stylesheet's own references (fonts,
images) are followed when the stylesheet is fetched.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

__all__ = ["MAX_REFERENCES", "references"]

MAX_REFERENCES = 256
_HTML_REF = re.compile(rb"""(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""", re.IGNORECASE)
_CSS_REF = re.compile(rb"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s"']+))\s*\)|@import\s+["']([^"']+)["']""",
                      re.IGNORECASE)


def references(data: bytes, media_type: str, base_path: str) -> list[str]:
    """Same-origin paths referenced by an HTML or CSS document at ``base_path`` (first seen first)."""
    mt = media_type.split(";", 1)[0].strip()
    if mt == "text/html":
        pattern = _HTML_REF
    elif mt == "text/css":
        pattern = _CSS_REF
    else:
        return []
    out: list[str] = []
    seen: set[str] = set()
    for m in pattern.finditer(data):
        raw = next((g for g in m.groups() if g), b"")
        try:
            ref = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            continue
        if not ref or ref.startswith(("#", "data:", "javascript:", "mailto:")):
            continue
        parts = urlsplit(urljoin("http://site" + base_path, ref))
        if parts.netloc != "site" or not parts.path:
            continue  # another origin
        if parts.path not in seen:
            seen.add(parts.path)
            out.append(parts.path)
            if len(out) >= MAX_REFERENCES:
                break
    return out
