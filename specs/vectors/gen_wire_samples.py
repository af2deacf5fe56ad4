#!/usr/bin/env python3
"""Generate specs/vectors/wire_samples.json: frozen bytes of every wire message.

Regenerate (after a *deliberate* wire change) from the repository root with::

    python specs/vectors/gen_wire_samples.py          # rewrite the file
    python specs/vectors/gen_wire_samples.py --check  # exit 1 if the file is stale

Each sample is one message built from fixed fields by the package's own
builders (deterministic Ed25519 keys from fixed seeds, fixed timestamps),
then canonical CBOR (RFC 8949 4.2.1) in hex. ``tests/test_wire_samples.py``
decodes every sample and re-encodes it to the same bytes, parses it with the
typed parser for its message and re-encodes the parsed value, and rebuilds
it from its fields with this script: a change to a builder, a parser or the
encoder that moves one byte fails a test.

Samples expected to change on purpose are listed in ``expected_changes``
(samples whose bytes contain a store address: a change to how addresses are
derived, e.g. domain-separated store keys, moves them). Everything else
changing is a wire break and needs a spec change first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from note_compute import encoding, records  # noqa: E402
from note_compute.compute import protocol as cp  # noqa: E402
from note_compute.compute.dataset import build_dataset, parse_manifest  # noqa: E402
from note_compute.compute.fraud import KIND_SUBSET, Evidence, FraudProof  # noqa: E402
from note_compute.compute.hints import seq_mismatch  # noqa: E402
from note_compute.crypto import SigningKey  # noqa: E402
from note_compute.errors import NotFound, QuotaExceeded, RemoteProtocolError  # noqa: E402
from note_compute.merkle import MerkleTree  # noqa: E402
from note_compute.net import framing  # noqa: E402
from note_compute.ring import messages as rm  # noqa: E402
from note_compute.ring.ids import PeerRef, node_id  # noqa: E402
from note_compute.store import Digest  # noqa: E402
from note_compute.wire import compute as wc  # noqa: E402
from note_compute.wire import envelope
from note_compute.wire import relay as wrelay  # noqa: E402
from note_compute.wire import storage as sm  # noqa: E402
from specs.vectors import vectorgen  # noqa: E402

OUT = Path(__file__).with_name("wire_samples.json")

# Fixed keys: RFC 8032 section 7.1 TEST 1 seed (publisher), a hashed label (compute peer).
PUBLISHER = SigningKey(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
PEER = SigningKey(hashlib.sha256(b"note_compute wire samples: compute peer").digest())
CREATED = 1_790_000_000  # 2026-09-21, fixed
A = PeerRef(node_id(PUBLISHER.public_key), "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWA")
B = PeerRef(int.from_bytes(bytes(range(32)), "big"), "/ip4/127.0.0.1/tcp/4002/p2p/12D3KooWB")
C = PeerRef(int.from_bytes(b"\xff" * 32, "big"), "/ip4/127.0.0.1/tcp/4003/p2p/12D3KooWC")
RING_KEY = (1 << 255) + 12345

EXPECTED_CHANGES = {
    "store.put request": "carries a record's store address (changes if addresses are domain-separated)",
    "store.get request": "carries a record's store address",
    "store.sync request": "carries store addresses and their range",
    "store.sync reply": "carries store addresses",
    "frame: request store.get": "wraps the store.get request",
    "envelope: request frame": "wraps the store.get request",
}


def _record() -> records.Record:
    url = f"note://{PUBLISHER.authority}/hello"
    return records.sign_record(PUBLISHER, url, seq=3, value=b"hello, ring", created=CREATED)


def _shard() -> tuple[list[bytes], MerkleTree]:
    recs = [encoding.encode({"id": i, "name": f"item {i}", "price": 100 * i}) for i in range(5)]
    return recs, MerkleTree(recs)


def _query_request(*, ranged: bool = False, qc: bool = False) -> cp.QueryRequest:
    program = f"note://{PUBLISHER.authority}/programs/shop_search"
    dataset = f"note://{PUBLISHER.authority}/datasets/products"
    rng = [[100], [400]] if ranged else None
    return cp.QueryRequest(program, hashlib.sha256(b"program wasm").digest(), dataset, 7, 0,
                           encoding.encode({"text": "item", "limit": 2}), rng, qc)


def _receipt() -> cp.Receipt:
    recs, tree = _shard()
    indices = [1, 3]
    result = cp.result_digest(indices, [recs[i] for i in indices], b"")
    return cp.make_receipt(PEER, _query_request(), shard_root=tree.root, count=len(recs),
                           sort_key=["price", "id"], result=result, fuel=12345)


def _query_reply() -> dict[str, Any]:
    recs, tree = _shard()
    indices = [1, 3]
    return {"receipt": _receipt().encode(), "indices": indices, "extra": b"",
            "records": [recs[i] for i in indices], "proof": tree.batch_proof(indices).encode()}


def _range_reply() -> dict[str, Any]:
    recs, tree = _shard()
    req = _query_request(ranged=True)
    indices = [1, 2, 3]
    result = cp.result_digest(indices, [recs[i] for i in indices], b"")
    receipt = cp.make_receipt(PEER, req, shard_root=tree.root, count=len(recs), sort_key=["price"],
                              result=result, fuel=999)
    return {"receipt": receipt.encode(), "indices": indices, "extra": b"",
            "range_proof": tree.key_range_proof([[100 * i] for i in range(len(recs))], [100], [400]).encode()}


def _seq_hint_reply() -> dict[str, Any]:
    """A ``seq-mismatch`` refusal from a peer holding seq 8: the error plus seq 8's signed dataset record."""
    dataset = _query_request().dataset
    built = build_dataset(_shard()[0], name="products", sort_key=["price", "id"], shard_records=5)
    rec = records.sign_record(PUBLISHER, dataset, seq=8, value=built.value, created=CREATED)
    held = parse_manifest(built.value, url=dataset, seq=8)
    exc = seq_mismatch(dataset, dataclasses.replace(held, record=rec.encode()), 7)
    return {**envelope.error_reply(exc), **exc.attached}


def _fraud_proof() -> FraudProof:
    recs, tree = _shard()
    claimed = [1, 3]
    ev = [0, 1, 2, 3, 4]
    return FraudProof(KIND_SUBSET, _receipt().encode(), _query_request().args, claimed,
                      cp.record_digests([recs[i] for i in claimed]), b"",
                      [Evidence(ev, [recs[i] for i in ev], tree.batch_proof(ev).encode())])


def _digests() -> list[Digest]:
    rec = _record()
    enc = rec.encode()
    blob = b"a content-addressed chunk"
    return [Digest(rec.address, "record", rec.seq, hashlib.sha256(enc).digest()),
            Digest(hashlib.sha256(blob).digest(), "value", 0, hashlib.sha256(blob).digest())]


def messages() -> list[tuple[str, str, Callable[[], Any]]]:
    """``(name, form, build)``: form ``cbor`` (one CBOR value) or ``frame`` (length-prefixed frame)."""
    rec = _record()
    get_req = sm.get_msg(rec.address)
    return [
        # -- signed objects ---------------------------------------------------------------
        ("record", "cbor", lambda: rec.encode()),
        ("receipt", "cbor", lambda: _receipt().encode()),
        ("fraud proof", "cbor", lambda: _fraud_proof().encode()),
        # -- transport envelope -------------------------------------------------------------
        ("envelope: hello", "cbor", lambda: envelope.hello_frame(A.addr)),
        ("envelope: request frame", "cbor", lambda: envelope.request_frame(1, get_req)),
        ("envelope: reply frame", "cbor",
         lambda: envelope.reply_frame(1, sm.get_reply("record", rec.encode()))),
        ("envelope: fatal frame", "cbor",
         lambda: envelope.fatal_frame(RemoteProtocolError("a request frame is {id, req}", reason="bad-envelope"))),
        ("error: not-found", "cbor", lambda: envelope.error_reply(NotFound("no such key", reason=None))),
        ("error: quota", "cbor", lambda: envelope.error_reply(QuotaExceeded("over quota", reason="rate"))),
        ("frame: request store.get", "frame", lambda: envelope.request_frame(1, get_req)),
        ("frame: ring.ping", "frame", lambda: rm.ping(A)),
        # -- storage RPC ----------------------------------------------------------------------
        ("store.put request", "cbor", lambda: sm.put_msg("record", rec.address, rec.encode())),
        ("store.put reply", "cbor", lambda: sm.put_reply("stored")),
        ("store.get request", "cbor", lambda: get_req),
        ("store.get reply", "cbor", lambda: sm.get_reply("record", rec.encode())),
        ("store.sync request", "cbor", lambda: sm.sync_msg(b"\x00" * 32, b"\xff" * 32, _digests())),
        ("store.sync reply", "cbor",
         lambda: sm.sync_reply([_digests()[1].key], [rec.address])),
        # -- ring -----------------------------------------------------------------------------
        ("ring.ping anonymous", "cbor", lambda: rm.ping(None)),
        ("ring.ping", "cbor", lambda: rm.ping(A)),
        ("ring.ping reply", "cbor", lambda: rm.ping_reply(A)),
        ("ring.find", "cbor", lambda: rm.find(A, RING_KEY, 8)),
        ("ring.find reply", "cbor",
         lambda: rm.find_reply([B, C], [])),
        ("ring.neighbours", "cbor", lambda: rm.neighbours(A)),
        ("ring.neighbours reply", "cbor",
         lambda: rm.neighbours_reply([B], [C])),
        ("ring.notify", "cbor", lambda: rm.notify(A)),
        ("ring.notify reply", "cbor", rm.notify_reply),
        ("ring.leave", "cbor", lambda: rm.leave(A, [B], [C])),
        ("ring.leave reply", "cbor", rm.leave_reply),
        # -- local relay (transport.md section 8) -----------------------------------------------
        ("frame: relay.forward", "frame",
         lambda: envelope.request_frame(1, wrelay.forward_msg(B.id_bytes, B.addr, rm.ping(A), 2000))),
        # -- compute --------------------------------------------------------------------------
        ("compute.query request", "cbor", lambda: _query_request().to_msg()),
        ("compute.query request, range and qc", "cbor", lambda: _query_request(ranged=True, qc=True).to_msg()),
        ("compute.query reply", "cbor", _query_reply),
        ("compute.query reply, range", "cbor", _range_reply),
        ("compute.records request", "cbor",
         lambda: cp.RecordsRequest(_query_request().dataset, 7, 0, [0, 4]).to_msg()),
        ("compute.records reply", "cbor",
         lambda: {"records": [_shard()[0][0], _shard()[0][4]], "proof": _shard()[1].batch_proof([0, 4]).encode()}),
        ("compute.batch request", "cbor",
         lambda: {"op": cp.OP_BATCH, "queries": [_query_request().to_msg(), _query_request(ranged=True).to_msg()]}),
        ("compute.query error, seq-mismatch with the newer record", "cbor", _seq_hint_reply),
        ("compute.prepare request", "cbor", lambda: wc.prepare_msg(_record().encode(), wait=True)),
        ("compute.prepare reply", "cbor", lambda: wc.prepare_reply(True, False)),
        ("compute.batch reply", "cbor",
         lambda: {"replies": [_query_reply(), cp.error_reply(NotFound("shard not held", reason="shard"))]}),
    ]


def encode_sample(form: str, value: Any) -> bytes:
    """The bytes of one sample: canonical CBOR, or a length-prefixed frame of it."""
    if isinstance(value, bytes):  # already-encoded signed objects
        assert form == "cbor"
        return value
    return framing.encode_frame(value) if form == "frame" else encoding.encode(value)


def samples() -> list[dict[str, str]]:
    out = []
    for name, form, build in messages():
        out.append({"name": name, "form": form, "hex": encode_sample(form, build()).hex()})
    return out


def build() -> dict[str, Any]:
    # Independent checks: a hand-assembled frame and the peer id of the publisher key.
    hand = bytes([0, 0, 0, 14, 0xA1, 0x62]) + b"op" + bytes([0x69]) + b"ring.ping"
    assert framing.encode_frame(rm.ping(None)) == hand, "frame of {'op': 'ring.ping'} differs from hand encoding"
    assert A.id_bytes == hashlib.sha256(PUBLISHER.public_key).digest()
    return {
        "_provenance": {
            "generator": "specs/vectors/gen_wire_samples.py",
            "regenerate": "python specs/vectors/gen_wire_samples.py",
            "checked_against": [
                "frame: hand-assembled 00 00 00 0e a1 62 'op' 69 'ring.ping'",
                "peer id: hashlib.sha256 of the RFC 8032 7.1 TEST 1 public key",
            ],
            "specs": [
                "specs/transport.md",
                "specs/storage-rpc.md",
                "specs/ring.md",
                "specs/compute.md",
                "specs/records.md",
            ],
            "keys": ("publisher: Ed25519 seed of RFC 8032 7.1 TEST 1; "
                     "compute peer: seed sha256('note_compute wire samples: compute peer')"),
        },
        "expected_changes": EXPECTED_CHANGES,
        "samples": samples(),
    }


def render() -> str:
    return vectorgen.json_text(build(), sort_keys=True)


if __name__ == "__main__":
    sys.exit(vectorgen.run(OUT, render))
