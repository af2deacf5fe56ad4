#!/usr/bin/env python3
"""Generate specs/vectors/refusals.json: how strict CBOR and records are refused.

Run from the repository root:  python specs/vectors/gen_refusals.py [--check]

Sections, each input with the one reason a decoder MUST report
(``specs/records.md`` sections 1.1-1.3 and 3.1.1):

* ``cbor``: inputs to ``encoding.decode`` with ``max_depth`` / ``max_size`` /
  ``allow_float``: how nesting depth is counted, every refusal reason, and
  inputs with several defects (which reason wins);
* ``records``: record encodings with several defects, and every case that
  maps to ``too-large`` (with its error code);
* ``manifests``: blob manifests over their caps (records.md 1.3, 5);
* every byte string is hex; inputs too long to write out are given as
  ``{"prefix", "repeat", "times", "suffix"}`` (bytes = prefix + repeat *
  times + suffix); integers are decimal strings.

Independent check: each CBOR input is hand-assembled here from RFC 8949
heads (no encoder involved), and each accepted input is also decoded by plain
``cbor2.loads`` (a lenient decoder) to the value note_compute returns. The
expected reasons are what note_compute answers (the script asserts each one
before writing), so the file and the code cannot drift apart unnoticed.
``--check`` regenerates in memory and exits 1 if the committed file differs.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cbor2  # noqa: E402

from note_compute import encoding  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.errors import NoteError  # noqa: E402
from note_compute.records import MAX_RECORD_SIZE, Record  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).resolve().parent / "refusals.json"


def head(major: int, n: int) -> bytes:
    """An RFC 8949 head in its shortest form."""
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError(n)


def text(s: str) -> bytes:
    b = s.encode()
    return head(3, len(b)) + b


def bstr(b: bytes) -> bytes:
    return head(2, len(b)) + b


# (name, hex input, options, expected: "accept" or a reason, note)
CBOR_CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    # --- depth: an item's depth is the number of arrays and maps around it --
    ("depth: scalar at top, max_depth 0", "01", {"max_depth": 0}, "accept", "the top-level item has depth 0"),
    ("depth: empty array, max_depth 0", "80", {"max_depth": 0}, "accept", "an empty container holds no item"),
    ("depth: [1], max_depth 0", "8101", {"max_depth": 0}, "too-deep", "1 has depth 1"),
    ("depth: [1], max_depth 1", "8101", {"max_depth": 1}, "accept", ""),
    ("depth: [[]], max_depth 1", "8180", {"max_depth": 1}, "accept", "the inner [] has depth 1 and is empty"),
    ("depth: [[1]], max_depth 1", "818101", {"max_depth": 1}, "too-deep", "1 has depth 2"),
    ("depth: {1: 1}, max_depth 0", "a10101", {"max_depth": 0}, "too-deep", "keys and values have depth 1"),
    ("depth: {1: {}}, max_depth 1", "a101a0", {"max_depth": 1}, "accept", ""),
    ("depth: {1: {1: {}}}, max_depth 1", "a101a101a0", {"max_depth": 1}, "too-deep", "the inner key has depth 2"),
    ("depth: map key [1], max_depth 0", "a1810101", {"max_depth": 0}, "too-deep",
     "depth is checked while reading, before the key's type"),
    ("depth: map key [1], max_depth 1", "a1810101", {"max_depth": 1}, "key-type", ""),
    ("depth: record shape {r: [h]}, max_depth 2", (b"\xa1" + text("r") + b"\x81" + bstr(bytes(32))).hex(),
     {"max_depth": 2}, "accept", "records are decoded with max_depth 2"),
    # --- one defect each --------------------------------------------------
    ("u64 max", "1bffffffffffffffff", {}, "accept", "2^64-1"),
    ("negative u64 max", "3bffffffffffffffff", {}, "accept", "-2^64"),
    ("2^64 is a bignum tag", "c249010000000000000000", {}, "tag", ""),
    ("non-canonical integer", "1801", {}, "non-canonical", "1 in two bytes"),
    ("non-canonical length", "590001" + "00", {}, "non-canonical", "a 1-byte string with a 2-byte length"),
    ("unsorted map keys", "a202010101", {}, "non-canonical", "{2: 1, 1: 1}"),
    ("RFC 7049 key order", "a2" + text("aa").hex() + "01" + "1864" + "01", {}, "non-canonical",
     "{'aa': 1, 100: 1}: length-first order; RFC 8949 bytewise order puts 100 (0x18) first"),
    ("RFC 8949 key order", "a2" + "1864" + "01" + text("aa").hex() + "01", {}, "accept", ""),
    ("indefinite array", "9f01ff", {}, "indefinite", ""),
    ("indefinite bytes", "5f4100ff", {}, "indefinite", ""),
    ("duplicate key", "a201010101", {}, "duplicate-key", ""),
    ("tag 1", "c101", {}, "tag", ""),
    ("self-described CBOR tag", "d9d9f701", {}, "tag", ""),
    ("undefined", "f7", {}, "type", ""),
    ("simple value 16", "f0", {}, "type", ""),
    ("false, true, null", "83f4f5f6", {}, "accept", ""),
    ("half float", "f93c00", {}, "float", ""),
    ("half float allowed", "f93c00", {"allow_float": True}, "accept", ""),
    ("double 1.0 allowed", "fb3ff0000000000000", {"allow_float": True}, "non-canonical",
     "1.0 is shortest as a half float"),
    ("bytes map key", "a1410001", {}, "key-type", ""),
    ("float map key", "a1f93c0001", {"allow_float": True}, "key-type", "key type is checked before the key itself"),
    ("bool map key", "a1f501", {}, "key-type", ""),
    ("trailing byte", "0100", {}, "trailing-data", ""),
    ("trailing garbage", "01ff", {}, "trailing-data", "bytes after the first item are never parsed"),
    ("empty input", "", {}, "truncated", ""),
    ("truncated array", "8201", {}, "truncated", ""),
    ("truncated string", "6361", {}, "truncated", ""),
    ("bad UTF-8", "61ff", {}, "malformed", ""),
    ("reserved additional info 28", "1c", {}, "malformed", ""),
    ("break outside indefinite", "ff", {}, "malformed", ""),
    ("two-byte simple value below 32 (reserved)", "f814", {}, "malformed", ""),
    ("two-byte simple value 32", "f820", {}, "type", ""),
    ("one-byte simple value 0", "e0", {}, "type", ""),
    ("additional information 31 on an integer", "1f", {}, "indefinite", "RFC 8949: malformed; here indefinite"),
    ("additional information 31 on a tag", "df", {}, "indefinite", ""),
    ("additional information 28 on a tag", "dc", {}, "tag", "any major-type-6 head is a tag"),
    ("additional information 28 on an array", "9c", {}, "malformed", ""),
    ("over max_size", "1bffffffffffffffff", {"max_size": "8"}, "too-large", "9 bytes over an 8-byte cap"),
    ("at max_size", "1bffffffffffffffff", {"max_size": "9"}, "accept", ""),
    ("over max_size, otherwise broken", "5f", {"max_size": "0"}, "too-large", "size first, before any parsing"),
    # --- several defects: which reason wins --------------------------------
    ("tag, then indefinite", "82c1015f4100ff", {}, "tag", "read in byte order: the first defect met wins"),
    ("indefinite, then tag", "825f4100ffc101", {}, "indefinite", ""),
    ("tag, then truncated", "82c101", {}, "tag", ""),
    ("bad UTF-8, then tag", "8261ffc101", {}, "malformed", ""),
    ("tag, then bad UTF-8", "82c10161ff", {}, "tag", ""),
    ("duplicate key, then tag", "a301010101c10102", {}, "duplicate-key", ""),
    ("duplicate key whose value has a tag", "a2010101c101", {}, "tag",
     "a duplicate is detected once its entry (key and value) has been read"),
    ("duplicate key whose value is too deep", "a2010101818101", {"max_depth": 1}, "too-deep", ""),
    ("float, then tag", "82f93c00c101", {}, "tag", "parse-time defects beat value defects wherever they are"),
    ("undefined, then truncated", "83f701", {}, "truncated", ""),
    ("undefined, then float", "82f7f93c00", {}, "type", "value defects: first in pre-order"),
    ("float, then undefined", "82f93c00f7", {}, "float", ""),
    ("key-type, then float", "a241000102f93c00", {}, "key-type", ""),
    ("float value, then bytes key", "a201f93c00410002", {}, "float", "map entries in encoded order, key then value"),
    ("non-canonical integer, then float", "821801f93c00", {}, "float", "value defects beat non-canonical form"),
    ("non-canonical, then trailing bytes", "180100", {}, "non-canonical",
     "trailing-data only when the first item itself is canonical"),
    ("key-type, then trailing bytes", "a1a0010101", {}, "key-type", ""),
    ("unsorted and duplicate keys", "a3020101010101", {}, "duplicate-key", ""),
]


def build_cbor() -> list[dict[str, Any]]:
    out = []
    for name, hexin, opts, expected, note in CBOR_CASES:
        data = bytes.fromhex(hexin)
        kwargs: dict[str, Any] = {k: v if k == "allow_float" else int(v) for k, v in opts.items()}
        try:
            value = encoding.decode(data, **kwargs)
            got = "accept"
        except NoteError as exc:
            got = str(exc.reason)
        assert got == expected, f"{name}: note_compute says {got}, vector says {expected}"
        if expected == "accept":
            assert cbor2.loads(data) == value, name  # a lenient decoder reads the same value
        vec: dict[str, Any] = {"name": name, "input": hexin, "expected": expected}
        if opts:
            vec["options"] = {k: v if k == "allow_float" else str(v) for k, v in opts.items()}
        if note:
            vec["note"] = note
        out.append(vec)
    return out


SEED = hashlib.sha256(b"note-compute/test-vectors/records/key-1").digest()


def build_records() -> list[dict[str, Any]]:
    key = SigningKey(SEED)
    url = f"note://{key.authority}/x"
    sig = bstr(bytes(64))
    out: list[dict[str, Any]] = []

    def rec(entries: list[tuple[str, bytes]]) -> bytes:
        # Entries are given already sorted (RFC 8949 bytewise order of the keys).
        return head(5, len(entries)) + b"".join(text(k) + v for k, v in entries)

    def add(name: str, data: bytes | dict[str, str], code: str, reason: str, note: str = "") -> None:
        if isinstance(data, dict):
            raw = bytes.fromhex(data["prefix"]) + bytes.fromhex(data["repeat"]) * int(data["times"]) + bytes.fromhex(
                data["suffix"])
        else:
            raw = data
        try:
            Record.decode(raw)
            got = ("accept", "")
        except NoteError as exc:
            got = (exc.code, str(exc.reason))
        assert got == (code, reason), f"{name}: note_compute says {got}"
        vec: dict[str, Any] = {"name": name}
        vec["encoded" if isinstance(data, bytes) else "encoded_parts"] = data.hex() if isinstance(data, bytes) else data
        vec["expected_code"], vec["expected_reason"] = code, reason
        if note:
            vec["note"] = note
        out.append(vec)

    c0 = head(0, 1_700_000_000)
    u = text(url)
    s1 = head(0, 1)
    big = 65537
    # "c" < "s" < "u" < "v" < "r"? bytewise: keys are 1-char text (0x61 + char): c, e, r, s, u, v; then "sig".
    add("valid shape (signature not checked)", rec([("c", c0), ("s", s1), ("u", u), ("v", bstr(b"hi")), ("sig", sig)]),
        "accept", "")
    add("seq 2^64-1", rec([("c", c0), ("s", head(0, 2**64 - 1)), ("u", u), ("v", bstr(b"")), ("sig", sig)]),
        "accept", "")
    add("seq 2^64 (a bignum tag)",
        rec([("c", c0), ("s", bytes.fromhex("c249010000000000000000")), ("u", u), ("v", bstr(b"")), ("sig", sig)]),
        "invalid-encoding", "tag")
    add("seq as a bool", rec([("c", c0), ("s", b"\xf5"), ("u", u), ("v", bstr(b"")), ("sig", sig)]),
        "invalid-record", "schema")
    prefix = head(5, 5) + text("c") + c0 + text("s") + s1 + text("u") + u + text("v") + head(2, big)
    add("value of 65537 bytes", {"prefix": prefix.hex(), "repeat": "00", "times": str(big),
                                 "suffix": (text("sig") + sig).hex()},
        "invalid-record", "too-large", "within MAX_RECORD_SIZE, over the 65536-byte value cap")
    huge = MAX_RECORD_SIZE
    prefix = head(5, 5) + text("c") + c0 + text("s") + s1 + text("u") + u + text("v") + head(2, huge)
    add("encoding over MAX_RECORD_SIZE (68608 bytes)", {"prefix": prefix.hex(), "repeat": "00", "times": str(huge),
                                                        "suffix": (text("sig") + sig).hex()},
        "invalid-encoding", "too-large", "the byte length is checked before anything is parsed")
    refs = head(4, 257) + bstr(bytes(32)) * 257
    add("257 refs", rec([("c", c0), ("r", refs), ("s", s1), ("u", u), ("sig", sig)]), "invalid-record", "too-large")
    add("nested array in refs (depth 3)", rec([("c", c0), ("r", b"\x81\x81" + bstr(bytes(32))), ("s", s1), ("u", u),
                                               ("sig", sig)]),
        "invalid-encoding", "too-deep", "encoding defects before schema defects")
    bad_url = text(f"note://{key.authority}/x/")  # not normal form
    add("URL not in normal form, value too large",
        {"prefix": (head(5, 5) + text("c") + c0 + text("s") + s1 + text("u") + bad_url + text("v")
                    + head(2, big)).hex(), "repeat": "00", "times": str(big), "suffix": (text("sig") + sig).hex()},
        "invalid-record", "url", "field checks run u, s, c, e, then v / r, then sig")
    add("empty refs and a bad URL", rec([("c", c0), ("r", b"\x80"), ("s", s1), ("u", bad_url), ("sig", sig)]),
        "invalid-record", "schema", "structural checks (map, keys, required fields, refs shape) come first")
    add("unknown key and a bad URL", rec([("c", c0), ("s", s1), ("u", bad_url), ("v", bstr(b"")), ("x", s1),
                                          ("sig", sig)]), "invalid-record", "schema")
    add("URL over 2048 bytes", rec([("c", c0), ("s", s1), ("u", text(url + "a" * 2048)), ("v", bstr(b"")),
                                    ("sig", sig)]),
        "invalid-record", "url", "a long URL is a url refusal, never too-large")
    add("expires before created", rec([("c", c0), ("e", head(0, 1)), ("s", s1), ("u", u), ("v", bstr(b"")),
                                       ("sig", sig)]), "invalid-record", "schema")
    add("signature of 63 bytes, value too large",
        {"prefix": (head(5, 5) + text("c") + c0 + text("s") + s1 + text("u") + u + text("v") + head(2, big)).hex(),
         "repeat": "00", "times": str(big), "suffix": (text("sig") + bstr(bytes(63))).hex()},
        "invalid-record", "too-large")
    add("value and refs both present", rec([("c", c0), ("r", head(4, 1) + bstr(bytes(32))), ("s", s1), ("u", u),
                                            ("v", bstr(b"")), ("sig", sig)]), "invalid-record", "schema")
    add("keys out of order (sig first)", head(5, 4) + text("sig") + sig + text("c") + c0 + text("s") + s1 + text("u")
        + u, "invalid-encoding", "non-canonical")
    return out


def build_manifests() -> list[dict[str, Any]]:
    """Blob manifests {"c", "n", "m"} (records.md section 5): caps and their reasons."""
    from note_compute.blobs import MAX_BLOB_SIZE, MAX_MANIFEST_SIZE, BlobManifest

    def manifest(chunks: int, n: int, mt: str = "a/b") -> bytes:
        return (head(5, 3) + text("c") + head(4, chunks) + bstr(bytes(32)) * chunks + text("m") + text(mt)
                + text("n") + head(0, n))

    out: list[dict[str, Any]] = []

    def add(name: str, data: bytes | dict[str, str], code: str, reason: str, note: str = "") -> None:
        if isinstance(data, dict):
            raw = bytes.fromhex(data["prefix"]) + bytes.fromhex(data["repeat"]) * int(data["times"]) + bytes.fromhex(
                data["suffix"])
        else:
            raw = data
        try:
            BlobManifest.decode(raw)
            got = ("accept", "")
        except NoteError as exc:
            got = (exc.code, str(exc.reason))
        assert got == (code, reason), f"{name}: note_compute says {got}"
        vec: dict[str, Any] = {"name": name}
        vec["encoded" if isinstance(data, bytes) else "encoded_parts"] = data.hex() if isinstance(data, bytes) else data
        vec["expected_code"], vec["expected_reason"] = code, reason
        if note:
            vec["note"] = note
        out.append(vec)

    add("one chunk, 1 byte", manifest(1, 1), "accept", "")
    add("size over 2^32 (checked before the chunk count)", manifest(0, MAX_BLOB_SIZE + 1), "invalid-record",
        "too-large", "a size over its cap is too-large")
    add("size 2^32 with no chunks", manifest(0, MAX_BLOB_SIZE), "invalid-record", "schema",
        "within the cap, but the chunk count does not match")
    add("chunk count does not match the size", manifest(2, 1), "invalid-record", "schema")
    add("upper-case media type", manifest(1, 1, "A/b"), "invalid-record", "media-type")
    n_chunks = MAX_MANIFEST_SIZE // 34 + 1
    parts = {"prefix": (head(5, 3) + text("c") + head(4, n_chunks)).hex(), "repeat": bstr(bytes(32)).hex(),
             "times": str(n_chunks), "suffix": (text("m") + text("a/b") + text("n") + head(0, 1)).hex()}
    add("encoding over the manifest byte cap", parts, "invalid-encoding", "too-large",
        f"cap {MAX_MANIFEST_SIZE} bytes = 16384 * 35 + 512, checked before parsing")
    return out


def build() -> dict[str, Any]:
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_refusals.py",
            "command": "python specs/vectors/gen_refusals.py",
            "spec": "specs/records.md sections 1.1-1.3 (CBOR depth, precedence, too-large) and 3.1.1 (records)",
            "independent_checks": "inputs hand-assembled from RFC 8949 heads; accepted inputs decode to the same "
            "value with plain cbor2.loads; expected reasons asserted against note_compute before writing",
            "fields": "hex byte strings; integers as decimal strings; encoded_parts = prefix + repeat * times + suffix",
        },
        "cbor": build_cbor(),
        "records": build_records(),
        "manifests": build_manifests(),
    }


def render() -> str:
    return vectorgen.json_text(build())


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
