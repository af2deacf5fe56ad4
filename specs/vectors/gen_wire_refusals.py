#!/usr/bin/env python3
"""Generate specs/vectors/wire_refusals.json: the refusal order of the wire module (specs/transport.md 4.1).

Regenerate from the repository root with::

    python specs/vectors/gen_wire_refusals.py          # rewrite the file
    python specs/vectors/gen_wire_refusals.py --check  # exit 1 if the file is stale

Each case is one message with two or more defects, written here by hand
(its CBOR is built from the literal map below, not by a package builder),
the parser that reads it (``family``) and the expected refusal: the first
defect in the order not a map, op, unexpected field, missing field, field
checks in schema order. Before writing, every case is run through the
package's parser and must be refused with exactly that reason;
``tests/test_vectors_wire_refusals.py`` runs them again from the file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from note_compute import encoding  # noqa: E402
from note_compute.errors import NoteError  # noqa: E402
from note_compute.ring import messages as rm  # noqa: E402
from note_compute.wire import compute as wc  # noqa: E402
from note_compute.wire import envelope  # noqa: E402
from note_compute.wire import storage as ws  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).with_name("wire_refusals.json")

FAMILIES: dict[str, Callable[[Any], Any]] = {
    "ring request": rm.parse_request,
    "ring reply to ring.find": lambda v: rm.parse_reply(envelope.raise_if_error(v), rm.FIND),
    "store.get request": ws.parse_get,
    "store.put request": ws.parse_put,
    "store.get reply": lambda v: ws.parse_get_reply(envelope.raise_if_error(v)),
    "compute.query request": wc.QueryRequest.from_msg,
    "compute.query reply": lambda v: wc.parse_reply_fields(v, ranged=False),
}
"""How a receiver reads each family (the names the vector file uses)."""

K32, K31 = bytes(32), bytes(31)
PEER = {"id": b"\x01" * 32, "addr": "/ip4/127.0.0.1/tcp/1/p2p/x"}

# (name, family, message, defects in the order the validator meets them, code, reason)
CASES: list[tuple[str, str, Any, list[str], str, str]] = [
    ("a list, not a map", "ring request", [{"op": "ring.find"}], ["not a map"], "remote-protocol", "not-a-map"),
    ("no op, and an unexpected field", "ring request", {"key": K32, "x": 1},
     ["no op", "unexpected field x"], "remote-protocol", "no-op"),
    ("unexpected field before missing field", "ring request", {"op": "ring.find", "key": K32, "x": 1},
     ["unexpected field x", "missing count"], "remote-protocol", "unexpected-field"),
    ("missing field before a bad field", "ring request", {"op": "ring.find", "key": K31},
     ["missing count", "key of 31 bytes"], "remote-protocol", "missing-field"),
    ("fields in schema order: key before count", "ring request", {"op": "ring.find", "key": K31, "count": 0},
     ["key of 31 bytes", "count 0"], "remote-protocol", "bad-id"),
    ("fields in schema order: from before key", "ring request",
     {"op": "ring.find", "from": {"id": K31, "addr": "a"}, "key": K31, "count": 1},
     ["from with a 31-byte id", "key of 31 bytes"], "remote-protocol", "bad-peer-id"),
    ("ring reply: unexpected field before a bad field", "ring reply to ring.find",
     {"op": "ring.find.reply", "successors": "x", "closer": [], "extra": 1},
     ["unexpected field extra", "successors not a list"], "remote-protocol", "bad-reply"),
    ("ring reply: another op's reply, checked after its own schema", "ring reply to ring.find",
     {"op": "ring.ping.reply", "id": K31},
     ["id of 31 bytes (ring.ping.reply schema)", "not the reply to ring.find"], "remote-protocol", "bad-reply"),
    ("ring reply: a valid reply to another request", "ring reply to ring.find", {"op": "ring.ping.reply", "id": K32},
     ["not the reply to ring.find"], "remote-protocol", "wrong-reply"),
    ("ring reply: not a map", "ring reply to ring.find", [1], ["not a map"], "remote-protocol", "bad-reply"),
    ("store.put: missing before bad fields", "store.put request",
     {"op": "store.put", "kind": "nope", "data": "text"},
     ["missing key", "kind unknown", "data not bytes"], "remote-protocol", "missing-field"),
    ("store.put: kind before data before key", "store.put request",
     {"op": "store.put", "kind": "nope", "data": "text", "key": K31},
     ["kind unknown", "data not bytes", "key of 31 bytes"], "remote-protocol", "bad-kind"),
    ("store.get: unexpected before missing", "store.get request", {"op": "store.get", "keys": [K32]},
     ["unexpected field keys", "missing key"], "remote-protocol", "unexpected-field"),
    ("store reply: wrong op before its fields", "store.get reply", {"op": "store.put.reply", "kind": 7},
     ["not a store.get.reply", "kind not a kind", "missing data"], "remote-protocol", "wrong-reply"),
    ("store reply: any field defect is bad-reply", "store.get reply",
     {"op": "store.get.reply", "kind": 7, "data": "text"},
     ["kind not a kind", "data not bytes"], "remote-protocol", "bad-reply"),
    ("a malformed error reply, whatever else the reply holds", "store.get reply",
     {"op": "store.get.reply", "error": {"code": 7}, "kind": 7},
     ["error without a text code", "kind not a kind"], "remote-protocol", "bad-error-reply"),
    ("a well-formed error reply is the peer's typed error", "store.get reply",
     {"error": {"code": "not-found", "message": "none", "reason": None}, "kind": 7},
     ["(an error reply: the other fields are not read)"], "not-found", ""),
    ("compute request: one reason for every defect", "compute.query request",
     {"op": "compute.query", "program": "", "x": 1},
     ["unexpected field x", "missing fields", "empty program"], "remote-protocol", "bad-request"),
    ("compute reply: one reason for every defect", "compute.query reply",
     {"receipt": b"r", "indices": [-1], "extra": 5},
     ["missing records and proof", "negative index", "extra not bytes"], "remote-protocol", "bad-reply"),
    ("compute reply: a malformed error reply", "compute.query reply", {"error": "boom", "indices": "x"},
     ["error not a map", "indices not a list"], "remote-protocol", "bad-error-reply"),
]


def refusal(family: str, value: Any) -> tuple[str, str]:
    """``(code, reason)`` the package's parser for ``family`` refuses ``value`` with (reason "" for none)."""
    try:
        FAMILIES[family](value)
    except NoteError as exc:
        return exc.code, exc.reason or ""
    raise AssertionError(f"{family}: {value!r} was accepted")


def build() -> dict[str, Any]:
    cases = []
    for name, family, value, defects, code, reason in CASES:
        got = refusal(family, value)
        assert got == (code, reason), f"{name}: the package refuses with {got}, expected {(code, reason)}"
        cases.append({"name": name, "family": family, "cbor": encoding.encode(value).hex(), "defects": defects,
                      "code": code, "reason": reason})
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_wire_refusals.py",
            "regenerate": "python specs/vectors/gen_wire_refusals.py",
            "checked_against": "messages written by hand as literal maps; every refusal asserted against the "
                               "package's parsers (note_compute.wire, note_compute.ring.messages) before writing",
            "spec": "specs/transport.md 4.1 (refusal order; a defective reply is the caller's refusal)",
        },
        "order": ["not a map", "op (no-op, unknown-op; a storage reply's wrong-reply)", "unexpected field",
                  "missing field (schema order)", "field checks (schema order)"],
        "families": sorted(FAMILIES),
        "cases": cases,
    }


def render() -> str:
    return vectorgen.json_text(build(), sort_keys=True)


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
