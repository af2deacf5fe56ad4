#!/usr/bin/env python3
"""Generate specs/vectors/client_rules.json: what a storage client sends and keeps.

Run from the repository root:  python specs/vectors/gen_client_rules.py [--check]

Sections (``specs/storage-rpc.md`` "Client behaviour", ``specs/transport.md``
section 4):

* ``lookup``: the ``ring.find`` a client sends (its ``count``, encoded) and,
  per operation, how many peers of the lookup's answer it keeps and asks;
* ``equivocation``: verified answers from replicas, in arrival order, and
  the record every client keeps (highest seq, then the bytewise-smallest
  encoding);
* ``kind``: the reasons for a wrong or unknown ``kind``;
* ``error_replies``: reply maps with an ``error`` (encoded), and the typed
  error a requester raises, or the refusal of a malformed one; plus the
  exact bytes a responder sends (no ``op``).

The numbers are read from note_compute and asserted against the values
written here by hand; the client's actual behaviour is checked by
``tests/test_vectors_client_rules.py`` driving ``note_compute.client.Client``
over a scripted in-memory host. Records are signed with the records.json key.
``--check`` regenerates in memory and exits 1 if the committed file differs.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from note_compute import encoding, records  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.errors import InvalidRecord, NoteError, RemoteProtocolError  # noqa: E402
from note_compute.node import storage  # noqa: E402
from note_compute.ring import messages as ring_msgs  # noqa: E402
from note_compute.wire import envelope  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).resolve().parent / "client_rules.json"
SEED = hashlib.sha256(b"note-compute/test-vectors/records/key-1").digest()
R = 3
FIND_COUNT = 8


def build_lookup() -> dict[str, Any]:
    key = hashlib.sha256(b"note-compute/test-vectors/client-rules/key").digest()
    find = ring_msgs.find(None, int.from_bytes(key, "big"), FIND_COUNT)
    assert find == {"op": "ring.find", "key": key, "count": FIND_COUNT}
    return {
        "replicas_r": str(R),
        "find_count": str(FIND_COUNT),
        "find_count_rule": "max(kept, 8), so 8 for every operation while r <= 6",
        "find_request": {"key": key.hex(), "encoded": encoding.encode(find).hex()},
        "operations": [
            {"op": "get_record", "kept": str(R + 2), "asked_at_once": str(R), "then_asked_at_once": "2",
             "rule": "ask the first r at once; only if none holds a valid record, ask the next 2; after the first "
             "valid answer wait 0.25 s for the others, then keep records.freshest of the valid answers"},
            {"op": "get_value", "kept": str(R + 2), "asked_at_once": "1", "then_asked_at_once": "1",
             "rule": "one peer at a time; a blob's chunk i starts at replica i mod r, then goes round the 5"},
            {"op": "put_record", "kept": str(R), "asked_at_once": str(R), "then_asked_at_once": "0",
             "rule": "store.put to the r replicas at once; returns how many acknowledged"},
            {"op": "put_value", "kept": str(R), "asked_at_once": str(R), "then_asked_at_once": "0",
             "rule": "as put_record"},
            {"op": "get_evidence", "kept": str(R), "asked_at_once": str(R), "then_asked_at_once": "0",
             "rule": "all r at once, union of the checked sets"},
        ],
    }


def build_equivocation() -> dict[str, Any]:
    key = SigningKey(SEED)
    url = f"note://{key.authority}/status/now"
    a = records.sign_record(key, url, seq=5, value=b"open", created=1_700_000_000)
    b = records.sign_record(key, url, seq=5, value=b"closed", created=1_700_000_001)
    c = records.sign_record(key, url, seq=6, value=b"later", created=1_700_000_002)
    d = records.sign_record(key, url, seq=4, value=b"older", created=1_699_999_999)
    small, large = sorted([a, b], key=lambda r: r.encode())
    named = {"seq5-small": small, "seq5-large": large, "seq6": c, "seq4": d}
    cases = [
        (["seq5-small", "seq5-large"], "seq5-small"),
        (["seq5-large", "seq5-small"], "seq5-small"),
        (["seq5-large", "seq4", "seq5-small"], "seq5-small"),
        (["seq5-large", "seq6", "seq5-small"], "seq6"),
        (["seq4"], "seq4"),
    ]
    out = []
    for answers, kept in cases:
        got = records.freshest([named[n] for n in answers])
        assert got.encode() == named[kept].encode(), (answers, kept)
        out.append({"answers_in_arrival_order": answers, "kept": kept})
    # The pair is an equivocation proof anyone can check.
    records.EquivocationProof(a, b).verify()
    return {
        "url": url,
        "records": {n: {"seq": str(r.seq), "encoded": r.encode().hex()} for n, r in named.items()},
        "cases": out,
    }


def _reason(fn: Any) -> tuple[str, str]:
    try:
        fn()
    except NoteError as exc:
        return exc.code, str(exc.reason)
    return "accept", ""


def build_kind() -> list[dict[str, Any]]:
    key = bytes(32)
    out = []
    put_bad = {"op": "store.put", "kind": "blob", "key": key, "data": b"x"}
    got = _reason(lambda: storage.parse_put(put_bad))
    assert got == ("remote-protocol", "bad-kind"), got
    out.append({"case": "store.put with an unknown kind (node side)", "encoded": encoding.encode(put_bad).hex(),
                "code": got[0], "reason": got[1]})
    rep_bad = {"op": "store.get.reply", "kind": "blob", "data": b"x"}
    got = _reason(lambda: storage.parse_get_reply(rep_bad, key))
    assert got == ("remote-protocol", "bad-reply"), got
    out.append({"case": "store.get.reply with an unknown kind (client side)", "encoded": encoding.encode(rep_bad).hex(),
                "code": got[0], "reason": got[1]})
    out.append({"case": "store.get.reply with a known kind other than the one asked for (client side: a value "
                "where a record was asked, a record where a value was asked, anything but evidence at an "
                "evidence key, anything but an inbox set at an inbox key)",
                "encoded": encoding.encode({"op": "store.get.reply", "kind": "value", "data": b"x"}).hex(),
                "code": InvalidRecord.code, "reason": "kind"})
    return out


def build_error_replies() -> dict[str, Any]:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("all three fields", {"error": {"code": "stale-record", "message": "seq 1 is lower", "reason": "stale"}}),
        ("reason null", {"error": {"code": "not-found", "message": "no entry", "reason": None}}),
        ("reason absent", {"error": {"code": "not-found", "message": "no entry"}}),
        ("message absent", {"error": {"code": "not-found", "reason": "no-entry"}}),
        ("only the code", {"error": {"code": "rate-limited"}}),
        ("unknown code: the generic error (code 'error')", {"error": {"code": "brand-new", "message": "m",
                                                                       "reason": None}}),
        ("extra field in the error map is ignored", {"error": {"code": "timeout", "message": "m", "reason": None,
                                                               "retry": 3}}),
        ("an op beside error is ignored (a responder never sends one)",
         {"op": "store.get.reply", "error": {"code": "not-found", "message": "m", "reason": None}}),
        ("code absent", {"error": {"message": "m", "reason": None}}),
        ("code not text", {"error": {"code": 7, "message": "m", "reason": None}}),
        ("message not text", {"error": {"code": "internal", "message": b"m", "reason": None}}),
        ("reason not text or null", {"error": {"code": "internal", "message": "m", "reason": 1}}),
        ("error not a map", {"error": "not-found"}),
        ("error null is malformed, not 'no error'", {"error": None}),
    ]
    out = []
    for name, reply in cases:
        vec: dict[str, Any] = {"name": name, "encoded": encoding.encode(reply).hex()}
        try:
            envelope.raise_if_error(reply)
            vec["raises"] = None
        except RemoteProtocolError as exc:
            assert exc.reason == "bad-error-reply", (name, exc.reason)
            vec["raises"] = {"code": exc.code, "reason": exc.reason, "malformed": True}
        except NoteError as exc:
            # message: the wire text, or null when absent (the requester then shows its own default text).
            msg = reply["error"].get("message")
            assert msg is None or exc.message == msg
            vec["raises"] = {"code": exc.code, "message": msg, "reason": exc.reason, "malformed": False}
        out.append(vec)
    assert all(v["raises"] is not None for v in out)
    responder = envelope.error_reply(InvalidRecord("peer returned a value where a record was expected",
                                                   reason="kind"))
    assert set(responder) == {"error"} and set(responder["error"]) == {"code", "message", "reason"}
    no_reason = envelope.error_reply(NoteError("plain"))
    return {
        "cases": out,
        "responder_sends": [
            {"name": "typed error with a reason", "encoded": encoding.encode(responder).hex()},
            {"name": "reason null (never omitted by a responder)", "encoded": encoding.encode(no_reason).hex()},
        ],
    }


def build() -> dict[str, Any]:
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_client_rules.py",
            "command": "python specs/vectors/gen_client_rules.py",
            "spec": "specs/storage-rpc.md ('Client behaviour', 'Kinds'), specs/transport.md section 4",
            "independent_checks": "numbers written by hand from the spec and asserted against note_compute; the "
            "client's behaviour is checked by driving note_compute.client.Client over a scripted host; the "
            "equivocating pair is checked as an EquivocationProof",
            "fields": "hex byte strings, integers as decimal strings",
        },
        "lookup": build_lookup(),
        "equivocation": build_equivocation(),
        "kind": build_kind(),
        "error_replies": build_error_replies(),
    }


def render() -> str:
    return vectorgen.json_text(build())


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
