"""Frozen wire samples (specs/vectors/wire_samples.json) hold the bytes still.

Three directions for every sample: the bytes decode and re-encode to the
same bytes; the typed parser for the message accepts them and its output,
rebuilt with the package's builders, gives the same bytes; and the generator
rebuilds every sample from its fields to the same bytes. An accidental wire
change fails here; a deliberate one regenerates the file with
``python specs/vectors/gen_wire_samples.py`` (see the file's provenance).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from note_compute import encoding, records
from note_compute.compute import protocol as cp
from note_compute.compute.fraud import FraudProof
from note_compute.compute.hints import hint_of
from note_compute.errors import NoteError, RemoteProtocolError
from note_compute.net import framing
from note_compute.ring import messages as rm
from note_compute.ring.ids import ID_BYTES, PeerRef
from note_compute.store import Digest
from note_compute.wire import compute as wc
from note_compute.wire import envelope
from note_compute.wire import relay as wrelay
from note_compute.wire import storage as sm
from note_compute.wire.compute import HINT_FIELD, parse_hint

VECTORS = Path(__file__).resolve().parents[1] / "specs" / "vectors"
DATA = json.loads((VECTORS / "wire_samples.json").read_text())
SAMPLES = {s["name"]: s for s in DATA["samples"]}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_wire_samples", VECTORS / "gen_wire_samples.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bytes(name: str) -> bytes:
    return bytes.fromhex(SAMPLES[name]["hex"])


def _value(name: str) -> Any:
    data = _bytes(name)
    if SAMPLES[name]["form"] == "frame":
        dec = framing.FrameDecoder()
        (frame,) = dec.feed(data)
        assert dec.at_boundary
        return frame
    return encoding.decode(data, max_size=8 * 1024 * 1024)


# -- typed parse, then rebuild with the builders -------------------------------------------


def _ring_to_wire(req: rm.Request) -> dict[str, Any]:
    msg: dict[str, Any] = {"op": req.op}
    for name, value in req.fields.items():
        if isinstance(value, PeerRef):
            msg[name] = value.to_wire()
        elif isinstance(value, tuple):
            msg[name] = [p.to_wire() for p in value]
        elif name in ("key", "id"):
            msg[name] = value.to_bytes(ID_BYTES, "big")
        else:
            msg[name] = value
    return msg


def _ring_request(v: Any) -> Any:
    req = rm.parse_request(v)
    built = {rm.PING: lambda: rm.ping(req.get("from")),
             rm.FIND: lambda: rm.find(req.get("from"), req.get("key"), req.get("count")),
             rm.NEIGHBOURS: lambda: rm.neighbours(req.get("from")),
             rm.NOTIFY: lambda: rm.notify(req.get("from")),
             rm.LEAVE: lambda: rm.leave(req.get("from"), list(req.get("predecessors")),
                                        list(req.get("successors")))}[req.op]()
    assert built == _ring_to_wire(req)
    return built


def _ring_reply(v: Any) -> Any:
    rep = rm.parse_reply(v)
    built = {rm.reply_op(rm.PING): lambda: rm.ping_reply(PeerRef(rep.get("id"), "x")),
             rm.reply_op(rm.FIND): lambda: rm.find_reply(rep.get("successors"), rep.get("closer")),
             rm.reply_op(rm.NEIGHBOURS): lambda: rm.neighbours_reply(rep.get("predecessors"), rep.get("successors")),
             rm.reply_op(rm.NOTIFY): rm.notify_reply,
             rm.reply_op(rm.LEAVE): rm.leave_reply}[rep.op]()
    assert built == _ring_to_wire(rep)
    return built


def _error(v: Any) -> Any:
    with pytest.raises(NoteError) as info:
        envelope.raise_if_error(v)
    return envelope.error_reply(info.value)


def _fatal(v: Any) -> Any:
    with pytest.raises(RemoteProtocolError) as info:
        envelope.parse_reply(v, 1)
    assert info.value.reason == "peer-fatal"
    cause = info.value.__cause__
    assert isinstance(cause, NoteError)
    return envelope.fatal_frame(cause)


def _request_frame(v: Any) -> Any:
    rid, req = envelope.parse_request(v)
    return envelope.request_frame(rid, sm.get_msg(sm.parse_get(req)))


def _relay_forward(v: Any) -> Any:
    rid, req = envelope.parse_request(v)
    pid, addr, msg, ms = wrelay.parse_forward(req)
    return envelope.request_frame(rid, wrelay.forward_msg(pid, addr, _ring_request(msg), ms))


def _get_reply(v: Any) -> Any:
    kind, data = sm.parse_get_reply(v)
    return sm.get_reply(kind, data)


def _reply_frame(v: Any) -> Any:
    return envelope.reply_frame(1, _get_reply(envelope.parse_reply(v, 1)))


def _sync(v: Any) -> Any:
    req = sm.parse_sync(v)
    return sm.sync_msg(req.lo, req.hi, [Digest(k, "record", s, h) for k, s, h in req.digests])


def _sync_reply(v: Any) -> Any:
    return sm.sync_reply(*sm.parse_sync_reply(v))


def _put_reply(v: Any) -> Any:
    return sm.put_reply(sm.parse_put_reply(v))


def _query_reply_value(r: cp.QueryResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"receipt": r.receipt.encode(), "indices": r.indices, "extra": r.extra}
    if r.range_proof is not None:
        out["range_proof"] = r.range_proof
    else:
        out["records"], out["proof"] = r.records, r.proof
    return out


def _batch_reply(v: Any) -> Any:
    subs = cp.parse_batch_reply(v, 2)
    out: list[Any] = []
    for sub in subs:
        try:
            out.append(_query_reply_value(cp.parse_query_response(sub, ranged=False)))
        except NoteError as exc:
            out.append(envelope.error_reply(exc))
    return {"replies": out}


def _hint_error(v: Any) -> Any:
    with pytest.raises(NoteError) as info:
        envelope.raise_if_error(v)
    assert info.value.reason == "seq-mismatch"
    record = records.Record.decode(parse_hint(hint_of(info.value)))
    return {**envelope.error_reply(info.value), HINT_FIELD: record.encode()}


def _records_reply(v: Any) -> Any:
    recs, proof = cp.parse_records_response(v, 2)
    return {"records": recs, "proof": proof}


PARSERS: dict[str, Callable[[Any], Any]] = {
    "record": lambda b: records.Record.decode(b).encode(),
    "receipt": lambda b: cp.Receipt.decode(b).encode(),
    "fraud proof": lambda b: FraudProof.decode(b).encode(),
    "envelope: hello": lambda v: envelope.hello_frame(envelope.hello_addr(v["hello"], "12D3KooWA") or ""),
    "envelope: request frame": _request_frame,
    "envelope: reply frame": _reply_frame,
    "envelope: fatal frame": _fatal,
    "error: not-found": _error,
    "error: quota": _error,
    "frame: request store.get": _request_frame,
    "frame: ring.ping": _ring_request,
    "frame: relay.forward": _relay_forward,
    "store.put request": lambda v: sm.put_msg(*(lambda r: (r.kind, r.key, r.data))(sm.parse_put(v))),
    "store.put reply": _put_reply,
    "store.get request": lambda v: sm.get_msg(sm.parse_get(v)),
    "store.get reply": _get_reply,
    "store.sync request": _sync,
    "store.sync reply": _sync_reply,
    "compute.query request": lambda v: cp.QueryRequest.from_msg(v).to_msg(),
    "compute.query request, range and qc": lambda v: cp.QueryRequest.from_msg(v).to_msg(),
    "compute.query reply": lambda v: _query_reply_value(cp.parse_query_response(v, ranged=False)),
    "compute.query reply, range": lambda v: _query_reply_value(cp.parse_query_response(v, ranged=True)),
    "compute.records request": lambda v: cp.RecordsRequest.from_msg(v).to_msg(),
    "compute.records reply": _records_reply,
    "compute.batch request": lambda v: {"op": cp.OP_BATCH,
                                        "queries": [cp.QueryRequest.from_msg(q).to_msg() for q in cp.parse_batch(v)]},
    "compute.batch reply": _batch_reply,
    "compute.query error, seq-mismatch with the newer record": _hint_error,
    "compute.prepare request": lambda v: (lambda r, w: wc.prepare_msg(r, wait=w))(*wc.parse_prepare(v)),
    "compute.prepare reply": lambda v: wc.prepare_reply(*wc.parse_prepare_reply(v)),
}
for _name in SAMPLES:
    if _name.startswith("ring.") and _name not in PARSERS:
        PARSERS[_name] = _ring_reply if _name.endswith("reply") else _ring_request


def test_every_sample_has_a_typed_parser() -> None:
    assert set(PARSERS) == set(SAMPLES)


def test_samples_cover_the_wire() -> None:
    names = set(SAMPLES)
    for op in rm.REQUEST_OPS:
        assert op in names or f"{op} anonymous" in names
        assert f"{op} reply" in names
    for op in sm.STORAGE_OPS:
        assert f"{op} request" in names and f"{op} reply" in names
    for op in (cp.OP_QUERY, cp.OP_RECORDS, cp.OP_BATCH, wc.OP_PREPARE):
        assert f"{op} request" in names and f"{op} reply" in names
    assert {"receipt", "fraud proof", "record", "error: not-found"} <= names
    assert any(s["form"] == "frame" for s in DATA["samples"])
    assert set(DATA["expected_changes"]) <= names


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_decodes_and_reencodes_to_the_same_bytes(name: str) -> None:
    data = _bytes(name)
    value = _value(name)
    if SAMPLES[name]["form"] == "frame":
        assert framing.encode_frame(value) == data
    else:
        assert encoding.encode(value) == data


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_parses_and_rebuilds_to_the_same_bytes(name: str) -> None:
    data = _bytes(name)
    value = data if name in ("record", "receipt", "fraud proof") else _value(name)
    rebuilt = PARSERS[name](value)
    gen = _generator()
    assert gen.encode_sample(SAMPLES[name]["form"], rebuilt) == data


def test_generator_rebuilds_every_sample_from_its_fields() -> None:
    gen = _generator()
    built = {s["name"]: s for s in gen.samples()}
    assert set(built) == set(SAMPLES)
    for name, sample in SAMPLES.items():
        assert built[name] == sample, f"wire bytes of {name!r} changed"
    assert gen.build() == DATA

