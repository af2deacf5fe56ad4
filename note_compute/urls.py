"""``note://`` URLs: strict parsing, one normal form, storage addresses.

A note URL names a mutable resource published by one authority::

    note://AUTHORITY/path

``AUTHORITY`` is the publisher's Ed25519 public key in base32, lower case,
unpadded (52 characters). The normative rules are in ``specs/records.md``;
in short, :func:`normalize` applies, in this order:

1. input longer than :data:`MAX_INPUT_LENGTH` code points is refused;
2. the scheme ``note`` and the authority are case-folded to lower case,
   ASCII only (a non-ASCII scheme or authority is refused, never folded);
   the authority must decode to 32 bytes and re-encode identically;
3. a fragment (``#``) then a query (``?``) anywhere after ``://``, then
   userinfo (``@`` in the authority) then a port (``:``) are refused, in
   that order;
4. percent-encoding is normalised: escapes of unreserved characters
   (``A-Z a-z 0-9 - . _ ~``) are decoded, the hex digits of the remaining
   escapes are upper-cased, a ``%`` not followed by two hex digits is
   refused, raw ASCII control characters are refused, and every other
   character outside unreserved / sub-delims / ``:`` / ``@`` / ``/`` is
   encoded as the percent-escapes of its UTF-8 bytes;
5. empty segments (``//``) are collapsed, ``.`` segments removed and ``..``
   segments resolved; a ``..`` that would climb above the root is refused;
6. an empty path becomes ``/``; a trailing slash is removed (except for the
   root ``/``): resources are not directories, ``/a/`` and ``/a`` are one;
7. the normal form may be at most :data:`MAX_URL_LENGTH` bytes.

:func:`address` is ``SHA-256(ADDR_RECORD || normal form as UTF-8)``
(``domains.ADDR_RECORD``, the record kind's address domain: no value, no
evidence set and no inbox can sit at a record's address). The normal form is
pure ASCII.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .crypto import AUTHORITY_LENGTH, public_key_of_authority
from .domains import ADDR_RECORD
from .errors import InvalidURL

__all__ = [
    "NoteURL",
    "parse",
    "normalize",
    "address",
    "make_url",
    "is_normal",
    "SCHEME",
    "MAX_URL_LENGTH",
    "MAX_INPUT_LENGTH",
]

SCHEME = "note"
MAX_URL_LENGTH = 2048
MAX_INPUT_LENGTH = 8192

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters left as they are in a path segment: unreserved, sub-delims, ":" and "@".
_SEGMENT_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@")
_HEX = frozenset("0123456789abcdefABCDEF")

# The normal form, checked in one go on the fast path (decoding records).
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%(?:[0-9A-F][0-9A-F]))"
_NORMAL_RE = re.compile(
    r"note://[a-z2-7]{51}[aq](?:/|(?:/" + _PCHAR + r"+)+)\Z"
)
# A "." or ".." segment.
_DOT_SEGMENT_RE = re.compile(r"/\.\.?(?:/|\Z)")
# Escapes that must have been decoded (unreserved characters).
_UNRESERVED_ESCAPE_RE = re.compile(r"%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2D|2E|5F|7E)")


@dataclass(frozen=True)
class NoteURL:
    """A parsed note URL in normal form; ``str(u)`` is the normal form."""

    authority: str
    public_key: bytes
    path: str

    def __str__(self) -> str:
        return f"{SCHEME}://{self.authority}{self.path}"

    @property
    def url(self) -> str:
        """The normal form (same as ``str(self)``)."""
        return str(self)

    @property
    def address(self) -> bytes:
        """32-byte storage address: SHA-256(ADDR_RECORD || normal form)."""
        return hashlib.sha256(ADDR_RECORD + str(self).encode("ascii")).digest()


def is_normal(url: str) -> bool:
    """True if ``url`` is a valid note URL already exactly in normal form (cheap check)."""
    if type(url) is not str or len(url) > MAX_URL_LENGTH:
        return False
    return (
        _NORMAL_RE.match(url) is not None
        and _UNRESERVED_ESCAPE_RE.search(url) is None
        and _DOT_SEGMENT_RE.search(url) is None
    )


def parse(url: str) -> NoteURL:
    """Parse ``url`` strictly and return it in normal form; raises InvalidURL."""
    if type(url) is str and is_normal(url):
        authority = url[7 : 7 + AUTHORITY_LENGTH]
        return NoteURL(authority, _public_key(authority), url[7 + AUTHORITY_LENGTH :])
    return _parse_slow(url)


def normalize(url: str) -> str:
    """The normal form of ``url`` (see the module docstring); raises InvalidURL."""
    return str(parse(url))


def address(url: str) -> bytes:
    """The 32-byte storage address of ``url``: SHA-256(ADDR_RECORD || normal form, UTF-8)."""
    return parse(url).address


def make_url(authority: str, path: str) -> str:
    """Build the normal-form URL for ``path`` under ``authority``.

    ``path`` may omit its leading slash; it is normalised like any URL path
    (so it cannot contain ``?`` or ``#``).
    """
    if type(authority) is not str or type(path) is not str:
        raise InvalidURL("authority and path must be strings", reason="type")
    if not path.startswith("/"):
        path = "/" + path
    return normalize(f"{SCHEME}://{authority}{path}")


def _public_key(authority: str) -> bytes:
    try:
        return public_key_of_authority(authority)
    except ValueError as exc:
        raise InvalidURL(
            f"authority {authority[:60]!r} is not a base32 Ed25519 public key (52 lower-case characters)",
            reason="authority",
        ) from exc


def _parse_slow(url: object) -> NoteURL:
    if type(url) is not str:
        raise InvalidURL("a URL must be a string", reason="type")
    if len(url) > MAX_INPUT_LENGTH:
        raise InvalidURL(f"URL is longer than {MAX_INPUT_LENGTH} characters", reason="too-long")
    sep = url.find("://")
    if sep < 0:
        raise InvalidURL(f"not a note:// URL: {url[:80]!r}", reason="scheme")
    if not url[:sep].isascii() or url[:sep].lower() != SCHEME:  # ASCII-only case folding
        raise InvalidURL(f"scheme must be {SCHEME!r}, got {url[:sep][:20]!r}", reason="scheme")
    rest = url[sep + 3 :]
    if "#" in rest:
        raise InvalidURL("note URLs have no fragment ('#' is not allowed; escape it as %23)", reason="fragment")
    if "?" in rest:
        raise InvalidURL("note URLs have no query ('?' is not allowed; escape it as %3F)", reason="query")
    slash = rest.find("/")
    authority, raw_path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if "@" in authority:
        raise InvalidURL("note URLs have no userinfo ('@' in the authority)", reason="userinfo")
    if ":" in authority:
        raise InvalidURL("note URLs have no port (':' in the authority)", reason="port")
    if not authority:
        raise InvalidURL("missing authority (note://AUTHORITY/path)", reason="authority")
    if not authority.isascii():
        raise InvalidURL("authority must be ASCII base32", reason="authority")
    authority = authority.lower()
    public_key = _public_key(authority)
    path = _normalize_path(raw_path)
    result = NoteURL(authority, public_key, path)
    if len(str(result)) > MAX_URL_LENGTH:
        raise InvalidURL(f"normalised URL is longer than {MAX_URL_LENGTH} bytes", reason="too-long")
    return result


def _normalize_path(raw: str) -> str:
    segments: list[str] = []
    for raw_seg in raw.split("/"):
        seg = _normalize_segment(raw_seg)
        if seg == "" or seg == ".":
            continue
        if seg == "..":
            if not segments:
                raise InvalidURL("'..' climbs above the root of the path", reason="dot-segment")
            segments.pop()
            continue
        segments.append(seg)
    return "/" + "/".join(segments)


def _normalize_segment(seg: str) -> str:
    if "%" not in seg and all(c in _SEGMENT_SAFE for c in seg):
        return seg
    out: list[str] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "%":
            hexpair = seg[i + 1 : i + 3]
            if len(hexpair) != 2 or not all(h in _HEX for h in hexpair):
                raise InvalidURL(
                    f"malformed percent-escape {seg[i:i + 3]!r} ('%' must be followed by two hex digits)",
                    reason="percent-encoding",
                )
            ch = chr(int(hexpair, 16))
            out.append(ch if ch in _UNRESERVED else "%" + hexpair.upper())
            i += 3
            continue
        if c in _SEGMENT_SAFE:
            out.append(c)
        elif c < " " or c == "\x7f":
            raise InvalidURL(
                f"raw control character {c!r} in the path (percent-encode it if it is meant)",
                reason="control-character",
            )
        else:
            try:
                raw = c.encode("utf-8")
            except UnicodeEncodeError as exc:  # lone surrogates
                raise InvalidURL("path contains a character that is not valid Unicode", reason="unicode") from exc
            out.append("".join(f"%{b:02X}" for b in raw))
        i += 1
    return "".join(out)
