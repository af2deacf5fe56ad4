"""Signed fields are compared by canonical encoding: ``True`` is not ``1`` anywhere."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import wasmtime

from note_compute import domains, encoding
from note_compute.compute.dataset import build_dataset
from note_compute.compute.fraud import KIND_RANGE, verify_fraud_proof
from note_compute.compute.keys import normalize_bound
from note_compute.compute.protocol import QueryRequest, Receipt
from note_compute.compute.server import ProgramCode, execute, load_shard
from note_compute.compute.strict import canonical, same
from note_compute.compute.verify import Claim, check_receipt, verify_answer
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidProof, RemoteProtocolError
from note_compute.sandbox import Sandbox
from note_compute.testing.compute import ALL_WAT

SITE = SigningKey(hashlib.sha256(b"strict-site").digest())
PEER = SigningKey(hashlib.sha256(b"strict-peer").digest())


def test_same_is_canonical_equality() -> None:
    assert same(1, 1) and same([1, "a", b"b", None], [1, "a", b"b", None]) and same({"a": [1]}, {"a": [1]})
    for a, b in ((True, 1), (False, 0), (1, 1.0), ([True], [1]), ({"a": True}, {"a": 1}), (b"a", "a"),
                 (None, False), ([[True], [5]], [[1], [5]])):
        assert a == b or a != b  # Python may say equal ...
        assert not same(a, b) and not same(b, a)  # ... the wire never does
    assert canonical(object()) is None and not same(object(), object())


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    wasm = wasmtime.wat2wasm(ALL_WAT)
    records = [encoding.encode({"id": i}) for i in range(10)]
    built = build_dataset(records, name="t", sort_key=["id"], shard_records=10)
    manifest = dataclasses.replace(built.manifest, url=f"note://{SITE.authority}/datasets/t", seq=1)
    shard = load_shard(manifest, 0, built.shards[0].blob)
    program = ProgramCode(f"note://{SITE.authority}/programs/all", hashlib.sha256(wasm).digest(), wasm, 10**8)
    return Sandbox(), manifest, shard, program


def _resign(body: dict) -> bytes:  # type: ignore[type-arg]
    return Receipt(body, PEER.sign(domains.SIG_RECEIPT, encoding.encode(body))).encode()


def test_true_for_one_range_is_refused_and_convicted_consistently(world) -> None:  # type: ignore[no-untyped-def]
    """A peer answers [1, 5) but signs [true, 5), a different range (booleans sort before integers).

    The answer check refuses it (Python's ``[[True], [5]] == [[1], [5]]`` would have let it through);
    the fraud check reads the signed range the same strict way: the window of [true, 5) convicts
    (record 0 is in that range and the signed output leaves it out), the window of [1, 5) does not
    verify for that receipt.
    """
    sandbox, manifest, shard, program = world
    args = encoding.encode(None)
    asked = QueryRequest(program.url, program.hash, manifest.url, 1, 0, args, [[1], [5]])
    reply = execute(PEER, sandbox, asked, program, manifest, shard)
    body = dict(Receipt.decode(reply["receipt"]).body, range=[[True], [5]])
    assert body["range"] == asked.range  # the trap: Python equality says it is the same range
    lying = dict(reply, receipt=_resign(body))
    with pytest.raises(RemoteProtocolError) as err:
        verify_answer(asked, lying, manifest)
    assert err.value.reason == "receipt-range"
    with pytest.raises(RemoteProtocolError):
        check_receipt(Receipt.decode(lying["receipt"]), asked, manifest)
    # the honest receipt passes the same check
    verify_answer(asked, reply, manifest)

    receipt = Receipt.decode(lying["receipt"])
    out = verify_answer(asked, reply, manifest)
    claim = Claim(receipt, out.claim.indices, out.claim.digests, out.claim.extra, args)
    lo, hi = normalize_bound([True], ["id"], upper=False), normalize_bound([5], ["id"], upper=True)
    signed_window = shard.tree.key_range_proof(shard.keys, lo, hi).encode()
    assert verify_fraud_proof(claim.fraud(KIND_RANGE, range_proof=signed_window), sandbox, program.wasm,
                              shard=shard.records) == "hidden-match"
    with pytest.raises(InvalidProof) as nf:
        verify_fraud_proof(claim.fraud(KIND_RANGE, range_proof=reply["range_proof"]), sandbox, program.wasm,
                           shard=shard.records)
    assert nf.value.reason == "not-fraud"


def test_version_fields_are_not_booleans(world) -> None:  # type: ignore[no-untyped-def]
    sandbox, manifest, shard, program = world
    reply = execute(PEER, sandbox, QueryRequest(program.url, program.hash, manifest.url, 1, 0, encoding.encode(None)),
                    program, manifest, shard)
    body = dict(Receipt.decode(reply["receipt"]).body, v=True)
    with pytest.raises(RemoteProtocolError):
        Receipt.decode(_resign(body))
