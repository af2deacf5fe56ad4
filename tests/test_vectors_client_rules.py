"""specs/vectors/client_rules.json: what the storage client sends and keeps, kinds, error replies.

The client (``note_compute.client.Client``) runs over a scripted in-memory
host: eight peers in ring order, each answering ``ring.find`` with itself
first (a proven answer), ``store.get`` from a script, ``store.put`` with
"stored". Every request is recorded, so the test sees the ``count`` the
client sends and which peers it asks, in which rounds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import trio

from note_compute import encoding, records
from note_compute.client import Client
from note_compute.errors import InvalidRecord, NoteError, NotFound, RemoteProtocolError
from note_compute.node import storage
from note_compute.ring.ids import PeerRef
from note_compute.wire import envelope

VECTORS_DIR = Path(__file__).resolve().parents[1] / "specs" / "vectors"
DOC = json.loads((VECTORS_DIR / "client_rules.json").read_text())
LOOKUP = DOC["lookup"]
OPS = {o["op"]: o for o in LOOKUP["operations"]}
EQ = DOC["equivocation"]
RECS = {n: bytes.fromhex(r["encoded"]) for n, r in EQ["records"].items()}
RING = [
    PeerRef(int.from_bytes(hashlib.sha256(b"peer %d" % i).digest(), "big"), f"/ip4/127.0.0.1/tcp/{4000 + i}/p2p/R{i}")
    for i in range(8)
]
NAME = {p.id: f"R{i}" for i, p in enumerate(RING)}


class ScriptedRing:
    """A Requester: R0..R7 in ring order; store.get answers from ``held`` (name -> (kind, data))."""

    def __init__(self, held: dict[str, tuple[str, bytes]] | None = None) -> None:
        self.held = held or {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (peer, op, msg)

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        name = NAME[peer.id]
        self.calls.append((name, msg["op"], msg))
        if msg["op"] == "ring.find":
            i = RING.index(peer)
            order = RING[i:] + RING[:i]
            return {"op": "ring.find.reply", "successors": [p.to_wire() for p in order[: msg["count"]]], "closer": []}
        if msg["op"] == "store.put":
            storage.parse_put(msg)
            return {"op": "store.put.reply", "result": "stored"}
        if msg["op"] == "store.get":
            await trio.sleep(0.01 * (1 + int(name[1:])))  # answers arrive R0 first, then R1, ...
            if name not in self.held:
                raise NotFound("no entry", reason="no-entry")
            kind, data = self.held[name]
            return {"op": "store.get.reply", "kind": kind, "data": data}
        raise AssertionError(msg["op"])

    def asked(self, op: str) -> list[str]:
        return [n for n, o, _ in self.calls if o == op]


def _client(host: ScriptedRing) -> Client:
    return Client(host, [RING[0]], replicas=int(LOOKUP["replicas_r"]))


def test_find_request_vector_is_what_the_client_sends_and_count_is_8() -> None:
    enc = bytes.fromhex(LOOKUP["find_request"]["encoded"])
    msg = encoding.decode(enc)
    assert msg == {"op": "ring.find", "key": bytes.fromhex(LOOKUP["find_request"]["key"]),
                   "count": int(LOOKUP["find_count"])}


async def test_get_record_keeps_5_asks_3_then_2(autojump_clock: Any) -> None:
    host = ScriptedRing()
    with pytest.raises(NotFound):
        await _client(host).get_record(EQ["url"])
    finds = [m for _, o, m in host.calls if o == "ring.find"]
    assert finds and all(m["count"] == int(LOOKUP["find_count"]) for m in finds)
    asked = host.asked("store.get")
    op = OPS["get_record"]
    first, then = int(op["asked_at_once"]), int(op["then_asked_at_once"])
    assert len(asked) == int(op["kept"]) == first + then
    assert sorted(asked[:first]) == ["R0", "R1", "R2"] and sorted(asked[first:]) == ["R3", "R4"]


async def test_get_record_does_not_ask_further_when_a_replica_holds_it(autojump_clock: Any) -> None:
    host = ScriptedRing({"R2": ("record", RECS["seq4"])})
    got = await _client(host).get_record(EQ["url"])
    assert got.encode() == RECS["seq4"]
    assert sorted(host.asked("store.get")) == ["R0", "R1", "R2"]


@pytest.mark.parametrize("case", EQ["cases"], ids=lambda c: ",".join(c["answers_in_arrival_order"]))
async def test_equivocating_replicas_every_client_keeps_the_same_record(case: dict[str, Any],
                                                                       autojump_clock: Any) -> None:
    names = case["answers_in_arrival_order"]
    held = {f"R{i}": ("record", RECS[n]) for i, n in enumerate(names)}
    if len(names) <= 3:
        got = await _client(ScriptedRing(held)).get_record(EQ["url"])
        assert got.encode() == RECS[case["kept"]]
    # The pure rule, in the arrival order given and reversed.
    recs = [records.Record.decode(RECS[n]) for n in names]
    assert records.freshest(recs).encode() == RECS[case["kept"]]
    assert records.freshest(list(reversed(recs))).encode() == RECS[case["kept"]]


async def test_put_record_asks_exactly_r(autojump_clock: Any) -> None:
    host = ScriptedRing()
    rec = records.Record.decode(RECS["seq6"])
    assert await _client(host).put_record(rec) == int(OPS["put_record"]["kept"])
    assert sorted(host.asked("store.put")) == ["R0", "R1", "R2"]
    assert all(m["count"] == int(LOOKUP["find_count"]) for _, o, m in host.calls if o == "ring.find")


async def test_put_value_asks_exactly_r(autojump_clock: Any) -> None:
    host = ScriptedRing()
    await _client(host).put_value(b"bytes")
    assert len(host.asked("store.put")) == int(OPS["put_value"]["kept"])


async def test_get_value_asks_one_at_a_time_through_5(autojump_clock: Any) -> None:
    host = ScriptedRing()
    with pytest.raises(NotFound):
        await _client(host).get_value(hashlib.sha256(b"x").digest(), prefer=1)
    # Rotated to start at replica 1 (prefer mod r), then round the 5 kept.
    assert host.asked("store.get") == ["R1", "R2", "R3", "R4", "R0"]
    assert len(host.asked("store.get")) == int(OPS["get_value"]["kept"])


@pytest.mark.parametrize("case", DOC["kind"], ids=lambda c: c["reason"])
def test_kind_vectors(case: dict[str, Any]) -> None:
    msg = encoding.decode(bytes.fromhex(case["encoded"]))
    with pytest.raises(NoteError) as e:
        if msg["op"] == "store.put":
            storage.parse_put(msg)
        else:
            kind, _ = storage.parse_get_reply(msg, bytes(32))
            if kind != "record":  # the client asked for a record
                raise InvalidRecord("peer returned a value where a record was expected", reason="kind")
    assert (e.value.code, e.value.reason) == (case["code"], case["reason"])


async def test_client_refuses_a_value_where_a_record_was_asked(autojump_clock: Any) -> None:
    host = ScriptedRing({"R0": ("value", b"x")})
    with pytest.raises(InvalidRecord) as e:
        await _client(host).get_record(EQ["url"])
    assert e.value.reason == "kind"


@pytest.mark.parametrize("case", DOC["error_replies"]["cases"], ids=lambda c: c["name"][:40])
def test_error_reply_vector(case: dict[str, Any]) -> None:
    reply = encoding.decode(bytes.fromhex(case["encoded"]))
    want = case["raises"]
    with pytest.raises(NoteError) as e:
        envelope.raise_if_error(reply)
    if want["malformed"]:
        assert isinstance(e.value, RemoteProtocolError) and e.value.reason == want["reason"]
        return
    assert (e.value.code, e.value.reason) == (want["code"], want["reason"])
    if want["message"] is not None:
        assert e.value.message == want["message"]


def test_responder_error_replies_have_no_op() -> None:
    for case in DOC["error_replies"]["responder_sends"]:
        reply = encoding.decode(bytes.fromhex(case["encoded"]))
        assert set(reply) == {"error"} and set(reply["error"]) == {"code", "message", "reason"}
    exc = InvalidRecord("peer returned a value where a record was expected", reason="kind")
    assert encoding.encode(envelope.error_reply(exc)).hex() == DOC["error_replies"]["responder_sends"][0]["encoded"]


def test_generator_reproduces_the_committed_file() -> None:
    spec = importlib.util.spec_from_file_location("gen_client_rules", VECTORS_DIR / "gen_client_rules.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render() == (VECTORS_DIR / "client_rules.json").read_text()


def test_freshest_refuses_nothing_and_mixed_urls() -> None:
    with pytest.raises(ValueError):
        records.freshest([])
    other = json.loads((VECTORS_DIR / "records.json").read_text())["records"][0]["encoded"]
    with pytest.raises(InvalidRecord) as e:
        records.freshest([records.Record.decode(RECS["seq4"]), records.Record.decode(bytes.fromhex(other))])
    assert e.value.reason == "url"
