"""The one wire module: schemas as data, one validator, one behaviour for a malformed reply."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute.compute import protocol as cp
from note_compute.errors import NotFound, RemoteProtocolError
from note_compute.ring import messages as rm
from note_compute.wire import compute as wc
from note_compute.wire import envelope, schema
from note_compute.wire import ring as wr
from note_compute.wire import storage as ws

KEY = b"\x07" * 32
GOOD_ERROR = {"error": {"code": "not-found", "message": "no such key", "reason": None}}
MALFORMED_ERRORS = [
    {"error": "boom"},
    {"error": {"message": "no code"}},
    {"error": {"code": 7, "message": "x", "reason": None}},
    {"error": {"code": "not-found", "message": b"bytes", "reason": None}},
    {"error": {"code": "not-found", "message": "x", "reason": 3}},
]


def _readers() -> list[tuple[str, Any]]:
    """Every reply parser of every family (storage, ring through the envelope, compute)."""
    return [
        ("store.get", lambda r: ws.parse_get_reply(envelope.raise_if_error(r))),
        ("store.put", lambda r: ws.parse_put_reply(envelope.raise_if_error(r))),
        ("store.sync", lambda r: ws.parse_sync_reply(envelope.raise_if_error(r))),
        ("ring.find", lambda r: rm.parse_reply(envelope.raise_if_error(r), rm.FIND)),
        ("compute.query", lambda r: cp.parse_query_response(r, ranged=False)),
        ("compute.query range", lambda r: cp.parse_query_response(r, ranged=True)),
        ("compute.records", lambda r: cp.parse_records_response(r, 1)),
        ("compute.batch", lambda r: cp.parse_batch_reply(r, 1)),
    ]


@pytest.mark.parametrize("name,read", _readers(), ids=[n for n, _ in _readers()])
def test_every_reader_raises_the_peers_typed_error(name: str, read: Any) -> None:
    with pytest.raises(NotFound):
        read(GOOD_ERROR)


@pytest.mark.parametrize("bad", MALFORMED_ERRORS)
@pytest.mark.parametrize("name,read", _readers(), ids=[n for n, _ in _readers()])
def test_a_malformed_error_reply_is_the_same_refusal_everywhere(name: str, read: Any, bad: dict[str, Any]) -> None:
    """Before the wire module, compute turned a malformed error into a generic typed error; now all agree."""
    with pytest.raises(RemoteProtocolError) as e:
        read(bad)
    assert e.value.reason == "bad-error-reply"


def test_refusal_order_is_fixed() -> None:
    """not-a-map, then unexpected field, then missing field, then each field's check in schema order."""
    put = ws.REQUESTS[ws.PUT]
    with pytest.raises(RemoteProtocolError, match="map") as e:
        schema.validate([1], put)
    assert e.value.reason == "not-a-map"
    with pytest.raises(RemoteProtocolError) as e:
        schema.validate({"op": ws.PUT, "kind": "nope", "zz": 1}, put)  # three defects: the unknown field wins
    assert e.value.reason == "unexpected-field"
    with pytest.raises(RemoteProtocolError) as e:
        schema.validate({"op": ws.PUT, "kind": "nope", "data": 5}, put)  # key missing beats bad kind and data
    assert e.value.reason == "missing-field"
    with pytest.raises(RemoteProtocolError) as e:
        schema.validate({"op": ws.PUT, "kind": "nope", "data": 5, "key": b"x"}, put)
    assert e.value.reason == "bad-kind"
    with pytest.raises(RemoteProtocolError) as e:
        schema.validate({"op": ws.PUT, "kind": "value", "data": b"\0" * (ws.MAX_ENTRY_SIZE + 1), "key": KEY}, put)
    assert e.value.reason == "too-large"


def test_a_family_reason_covers_every_defect_of_its_messages() -> None:
    ok = cp.QueryRequest("note://a/p", b"\1" * 32, "note://a/d", 1, 0, b"\xa0").to_msg()
    for change in ({"seq": -1}, {"qc": False}, {"args": b"\xff"}, {"extra": 1}, {"program_hash": b"short"}):
        with pytest.raises(RemoteProtocolError) as e:
            wc.QueryRequest.from_msg({**ok, **change})
        assert e.value.reason == "bad-request", change
    msg = dict(ok)
    del msg["shard"]
    with pytest.raises(RemoteProtocolError, match="lacks field 'shard'") as e:
        wc.QueryRequest.from_msg(msg)
    assert e.value.reason == "bad-request"


def test_bools_are_not_integers_on_the_wire() -> None:
    with pytest.raises(RemoteProtocolError):
        ws.parse_put_reply({"op": "store.put.reply", "result": True})
    with pytest.raises(RemoteProtocolError) as e:
        rm.parse_request({"op": rm.FIND, "key": KEY, "count": True})
    assert e.value.reason == "bad-count"


def test_replies_are_open_requests_are_closed() -> None:
    assert ws.parse_get_reply({"op": "store.get.reply", "kind": "value", "data": b"x", "later": 1}) == ("value", b"x")
    with pytest.raises(RemoteProtocolError) as e:
        ws.parse_get({"op": ws.GET, "key": KEY, "later": 1})
    assert e.value.reason == "unexpected-field"


def test_every_schema_is_data_in_one_place() -> None:
    """Both sides use the same tables: the ring's typed layer and the node re-export, never redeclare."""
    from note_compute.node import storage as node_storage

    assert node_storage.parse_put is ws.parse_put and node_storage.put_msg is ws.put_msg
    assert set(wr.REQUESTS) == set(rm.REQUEST_OPS)
    assert cp.QueryRequest is wc.QueryRequest and cp.parse_batch is wc.parse_batch
    for table in (wr.REQUESTS, wr.REPLIES, ws.REQUESTS, ws.REPLIES):
        assert all(isinstance(s, schema.Schema) for s in table.values())


_cbor = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
_fields = st.dictionaries(st.sampled_from(["op", "key", "kind", "data", "range", "digests", "program", "seq",
                                           "shard", "args", "indices", "queries", "from", "count", "successors",
                                           "closer", "receipt", "extra", "records", "proof", "error"]),
                          _cbor, max_size=8)


@settings(max_examples=300, deadline=None)
@given(msg=_cbor | _fields)
def test_no_parser_raises_anything_but_a_remote_protocol_error(msg: Any) -> None:
    parsers = [ws.parse_put, ws.parse_get, ws.parse_sync, ws.parse_put_reply, ws.parse_get_reply,
               ws.parse_sync_reply, rm.parse_request, rm.parse_reply, wc.QueryRequest.from_msg,
               wc.RecordsRequest.from_msg, wc.parse_batch,
               lambda m: envelope.raise_if_error(m) if isinstance(m, dict) else None,  # takes a reply map
               lambda m: cp.parse_query_response(m, ranged=False), lambda m: cp.parse_records_response(m, 2),
               lambda m: schema.validate(m, wc.RECEIPT_BODY)]
    for parse in parsers:
        try:
            parse(msg)
        except RemoteProtocolError:
            pass
        except NotFound:
            pass  # a well-formed error reply raises the error it carries
        except Exception as exc:  # pragma: no cover - the failure this test exists to catch
            if type(exc).__module__.startswith("note_compute") and hasattr(exc, "code"):
                continue  # any typed error a peer's well-formed error reply may carry
            raise
