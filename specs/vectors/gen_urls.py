#!/usr/bin/env python3
"""Generate specs/vectors/urls.json: URL normal-form edge cases and media types.

Run from the repository root:  python specs/vectors/gen_urls.py [--check]

Sections (``specs/records.md`` 2.3, 2.3.1 and 5.1):

* ``urls``: an input and either its normal form (with its storage address)
  or the one ``reason`` it is refused with: ASCII-only case folding, the
  ``scheme`` reason, the order in which ``#``, ``?``, ``@``, ``:`` and the
  later checks are made, and both length caps counted in code points;
* ``media_types``: strings a blob manifest accepts or refuses
  (``media-type``), and the defaults.

Long inputs are given as ``{"prefix", "repeat", "times", "suffix"}``
(input = prefix + repeat * times + suffix); ``code_points`` and
``utf8_bytes`` give the input's length both ways. Every expected result is
asserted against note_compute before writing; the addresses are checked
with plain ``hashlib.sha256`` of the normal form; the ASCII-only claims are
checked against Python's own Unicode case mapping (the only non-ASCII code
point whose lower case is ASCII is U+212A KELVIN SIGN, which is refused).
``--check`` regenerates in memory and exits 1 if the committed file differs.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from note_compute import blobs, programs, urls  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.errors import NoteError  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).resolve().parent / "urls.json"
SEED = hashlib.sha256(b"note-compute/test-vectors/records/key-1").digest()
A = SigningKey(SEED).authority
BASE = f"note://{A}"


# The record kind's address domain (specs/records.md 2.3.2), written out, not taken from the package.
ADDR_RECORD = b"note-compute/v1/addr-record\x00"


def _parts(prefix: str, repeat: str, times: int, suffix: str) -> dict[str, str]:
    return {"prefix": prefix, "repeat": repeat, "times": str(times), "suffix": suffix}


def _join(p: dict[str, str]) -> str:
    return p["prefix"] + p["repeat"] * int(p["times"]) + p["suffix"]


def url_cases() -> list[tuple[str, str | dict[str, str], str]]:
    """(name, input, expected): expected is "normal" (computed) or a reason."""
    kelvin = A.upper().replace("K", "\u212a", 1) if "k" in A else None
    cases: list[tuple[str, str | dict[str, str], str]] = [
        # --- case folding: ASCII only ---------------------------------------
        ("scheme and authority upper case fold", f"NoTe://{A.upper()}/Path", "normal"),
        ("path case is kept", f"{BASE}/ABC/abc", "normal"),
        ("fullwidth N in the scheme is not folded", f"\uff4eote://{A}/x", "scheme"),
        ("non-ASCII letter in the authority", f"note://{A[:-1]}\u00e4/x", "authority"),
        ("dotless i is not folded", f"note://{A[:10]}\u0131{A[11:]}/x", "authority"),
        # --- the scheme reason ----------------------------------------------
        ("other scheme", f"http://{A}/x", "scheme"),
        ("no ://", f"note:{A}/x", "scheme"),
        ("one slash", f"note:/{A}/x", "scheme"),
        ("leading space", f" {BASE}/x", "scheme"),
        ("empty string", "", "scheme"),
        ("scheme with a suffix", f"note+x://{A}/x", "scheme"),
        ("first :// decides", f"x:/{A}/note://y", "scheme"),
        # --- order: # then ? (anywhere after ://), then @ then : (authority) -
        ("fragment before query", f"{BASE}/x?q#f", "fragment"),
        ("fragment after query", f"{BASE}/x#f?q", "fragment"),
        ("query beats userinfo and port", f"note://u@{A}:1/x?q", "query"),
        ("fragment in the authority", f"note://{A}#f", "fragment"),
        ("userinfo beats port", f"note://u:p@{A}/x", "userinfo"),
        ("port", f"note://{A}:80/x", "port"),
        ("empty port", f"note://{A}:/x", "port"),
        ("query beats a bad escape", f"{BASE}/%zz?x", "query"),
        ("fragment beats a bad authority", "note://nope/x#f", "fragment"),
        ("userinfo beats a bad authority", "note://u@nope/x", "userinfo"),
        ("@ and : in the path are kept", f"{BASE}/u@h:1/x", "normal"),
        ("%23 and %3F in the path are kept", f"{BASE}/a%23b%3fc", "normal"),
        ("empty authority", "note:///x", "authority"),
        ("no authority, no path", "note://", "authority"),
        ("authority with bad padding bits", f"note://{A[:-1]}b/x", "authority"),
        ("authority of 51 characters", f"note://{A[:-1]}/x", "authority"),
        # --- path checks run segment by segment, left to right ---------------
        ("dot-segment before a later bad escape", f"{BASE}/../%zz", "dot-segment"),
        ("bad escape before a later dot-segment", f"{BASE}/%zz/../..", "percent-encoding"),
        ("control character", f"{BASE}/a\nb", "control-character"),
        ("DEL", f"{BASE}/a\x7fb", "control-character"),
        ("escaped newline is kept", f"{BASE}/a%0ab", "normal"),
        ("lone surrogate U+D800 (skip where strings cannot hold one)", f"{BASE}/a\ud800b", "unicode"),
        ("astral character", f"{BASE}/\U0001f600", "normal"),
        ("backslash is escaped", f"{BASE}/a\\b", "normal"),
        ("%2e%2e is a dot-segment", f"{BASE}/a/%2E%2e/b", "normal"),
        ("%2F is not a separator", f"{BASE}/a%2fb/..", "normal"),
        ("unreserved escapes decode, others upper-case", f"{BASE}/%41%7e%2d%5f%2e%e9%ff", "normal"),
    ]
    if kelvin is not None:
        cases.insert(3, ("KELVIN SIGN is not folded to k", f"note://{kelvin}/x", "authority"))
    # --- lengths in code points ---------------------------------------------
    # Input cap: 8192 code points. Each "/\u00e9/.." is 5 code points, 6 UTF-8
    # bytes, and normalizes away, so the normal form stays short.
    head = f"{BASE}"
    n = (urls.MAX_INPUT_LENGTH - len(head)) // 5
    pad = urls.MAX_INPUT_LENGTH - len(head) - 5 * n  # filled with "/" (empty segments)
    cases.append(("input of 8192 code points (more UTF-8 bytes) is accepted",
                  _parts(head, "/\u00e9/..", n, "/" * pad), "normal"))
    cases.append(("input of 8193 code points is refused", _parts(head, "/\u00e9/..", n, "/" * (pad + 1)), "too-long"))
    # An astral character is 1 code point (2 UTF-16 units, 4 UTF-8 bytes).
    m = (urls.MAX_INPUT_LENGTH - len(head)) // 5
    cases.append(("astral characters count one each",
                  _parts(head, "/\U0001f600/..", m, "/" * (urls.MAX_INPUT_LENGTH - len(head) - 5 * m)), "normal"))
    # Output cap: the normal form (ASCII) at most 2048.
    room = urls.MAX_URL_LENGTH - len(BASE) - 1
    cases.append(("normal form of exactly 2048", _parts(BASE + "/", "a", room, ""), "normal"))
    cases.append(("normal form of 2049", _parts(BASE + "/", "a", room + 1, ""), "too-long"))
    # "\u00e9" is 1 code point in the input but 6 characters (%C3%A9) in the normal form.
    cases.append(("short input, long normal form", _parts(BASE + "/", "\u00e9", room // 6 + 1, ""), "too-long"))
    cases.append(("2049 before normalization, 2048 after", _parts(BASE + "/", "a", room, "/"), "normal"))
    return cases


def build_urls() -> list[dict[str, Any]]:
    out = []
    for name, inp, expected in url_cases():
        raw = inp if isinstance(inp, str) else _join(inp)
        try:
            normal = urls.normalize(raw)
            got = "normal"
        except NoteError as exc:
            got, normal = str(exc.reason), ""
        assert got == expected, f"{name}: note_compute says {got}"
        vec: dict[str, Any] = {"name": name}
        if isinstance(inp, str):
            vec["input"] = inp
        else:
            vec["input_parts"] = inp
            vec["code_points"] = str(len(raw))
            vec["utf8_bytes"] = str(len(raw.encode("utf-8", "surrogatepass")))
        if expected == "normal":
            assert normal.isascii()
            vec["normal"] = normal if len(normal) <= 256 else {"length": str(len(normal)),
                                                                "sha256": hashlib.sha256(normal.encode()).hexdigest()}
            vec["address"] = hashlib.sha256(ADDR_RECORD + normal.encode()).hexdigest()
        else:
            vec["reason"] = expected
        out.append(vec)
    return out


MEDIA_TYPES: list[tuple[str, str]] = [
    ("application/octet-stream", "accept"),
    ("application/wasm", "accept"),
    ("text/plain; charset=utf-8", "accept"),
    ("text/plain;charset=utf-8", "accept"),
    ("text/plain; charset=utf-8; format=flowed", "accept"),
    ("application/vnd.api+json", "accept"),
    ("image/svg+xml", "accept"),
    ("a/b", "accept"),
    ("x-" + "a" * 125 + "/y", "accept"),          # type of 127 characters
    ("x-" + "a" * 126 + "/y", "refuse"),          # type of 128 characters
    ("Text/plain", "refuse"),                      # upper case is refused on the wire (the API folds it)
    ("text/plain; Charset=utf-8", "refuse"),
    ("text/plain; charset=UTF-8", "accept"),       # parameter values: any printable ASCII, case kept
    ("text", "refuse"),
    ("text/", "refuse"),
    ("/plain", "refuse"),
    ("text/plain;", "refuse"),
    ("text/plain ; charset=utf-8", "refuse"),      # no space before ";"
    ("text/plain;  charset=utf-8", "refuse"),      # at most one space after ";"
    ("text/plain; charset=\"utf-8\"", "refuse"),   # no quoted strings
    ("text/plain; charset=a\\b", "refuse"),        # no backslash
    ("text/plain; charset=", "refuse"),
    ("text/plain; charset=a b", "refuse"),
    ("-text/plain", "refuse"),                     # must start with a letter or digit
    ("text/pl\u00e4in", "refuse"),
    ("text/plain\n", "refuse"),
    ("", "refuse"),
]


def build_media_types() -> dict[str, Any]:
    long_ok = "a/" + "b" * 127 + "; k=" + "v" * (255 - 2 - 127 - 4)
    long_bad = long_ok + "v"
    cases = [*MEDIA_TYPES, (long_ok, "accept"), (long_bad, "refuse")]
    out = []
    for mt, expected in cases:
        try:
            blobs.BlobManifest((), 0, mt)  # the wire check: a manifest's "m"
            got = "accept"
        except NoteError as exc:
            assert exc.reason == "media-type", (mt, exc.reason)
            got = "refuse"
        assert got == expected, f"{mt!r}: note_compute says {got}"
        out.append({"media_type": mt, "length": str(len(mt)), "expected": expected})
    # What the API and CLI do with a media type before the wire check: ASCII
    # lower-casing (the whole string, parameter values included), nothing else.
    folds = []
    for given in ("Text/Plain", "TEXT/PLAIN; CHARSET=UTF-8", "text/\u212aind", "Application/WASM"):
        try:
            got_mt: str | None = blobs.split_blob(b"x", given)[0].media_type
        except NoteError as exc:
            assert exc.reason == "media-type"
            got_mt = None
        folds.append({"given": given, "stored": got_mt})
    assert folds[0]["stored"] == "text/plain" and folds[2]["stored"] is None
    return {
        "api_folding": folds,
        "grammar": "records.md 5.1",
        "refusal": "invalid-record / media-type",
        "api_default": blobs.DEFAULT_MEDIA_TYPE,
        "cli_put_default": "application/octet-stream",
        "program_binaries": programs.WASM_MEDIA_TYPE,
        "cases": out,
    }


def build() -> dict[str, Any]:
    # The ASCII-only claim, checked against Python's Unicode tables.
    folds_to_ascii = [hex(c) for c in range(128, 0x110000) if chr(c).lower().isascii() and chr(c).lower()]
    assert folds_to_ascii == ["0x212a"], folds_to_ascii
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_urls.py",
            "command": "python specs/vectors/gen_urls.py",
            "spec": "specs/records.md 2.3, 2.3.1 (URLs) and 5.1 (media types)",
            "independent_checks": "addresses recomputed with hashlib.sha256 of 'note-compute/v1/addr-record' NUL "
            "|| the normal form (the domain written out here, not imported); every expected "
            "result asserted against note_compute before writing; ASCII-only folding checked against Python's "
            "Unicode case mapping (only U+212A lower-cases to ASCII)",
            "key": "authority of seed SHA-256('note-compute/test-vectors/records/key-1') (the records.json key)",
            "fields": "input_parts: input = prefix + repeat * times + suffix; a long normal form is given by "
            "length and SHA-256; integers are decimal strings",
        },
        "authority": A,
        "limits": {"input_code_points": str(urls.MAX_INPUT_LENGTH), "normal_form_bytes": str(urls.MAX_URL_LENGTH)},
        "urls": build_urls(),
        "media_types": build_media_types(),
    }


def render() -> str:
    return vectorgen.json_text(build())


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
