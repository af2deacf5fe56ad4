"""Query protocol: request/receipt/response checks, server replies, fraud-proof verification."""

from __future__ import annotations

import hashlib

import pytest
import wasmtime

from note_compute import domains, encoding
from note_compute.compute.dataset import build_dataset
from note_compute.compute.fraud import (
    KIND_RANGE,
    KIND_SUBSET,
    Evidence,
    FraudProof,
    shard_needed,
    shard_proof,
    verify_fraud_proof,
)
from note_compute.compute.protocol import (
    OP_QUERY,
    QueryRequest,
    Receipt,
    RecordsRequest,
    parse_query_response,
    parse_records_response,
)
from note_compute.compute.server import ComputeServer, ProgramCode, execute, load_shard
from note_compute.compute.verify import OutputMismatch, UnprovenClaim, check_output, verify_answer
from note_compute.crypto import SigningKey
from note_compute.errors import (
    InvalidProof,
    InvalidRecord,
    InvalidSignature,
    NoteError,
    NotFound,
    RateLimited,
    RemoteProtocolError,
)
from note_compute.testing.compute import ALL_WAT, SUBSTRING_WAT

SITE = SigningKey(hashlib.sha256(b"site").digest())
PEER = SigningKey(hashlib.sha256(b"peer").digest())
DATASET = f"note://{SITE.authority}/datasets/things"
PROGRAM = f"note://{SITE.authority}/programs/sub"


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return wasmtime.wat2wasm(SUBSTRING_WAT)


@pytest.fixture(scope="module")
def world(wasm: bytes):
    recs = [encoding.encode({"id": i, "tag": ["red", "blue", "green"][i % 3]}) for i in range(60)]
    built = build_dataset(recs, name="things", sort_key=["id"], shard_records=20)
    from dataclasses import replace

    manifest = replace(built.manifest, url=DATASET, seq=3)
    shard = load_shard(manifest, 1, built.shards[1].blob)
    program = ProgramCode(PROGRAM, hashlib.sha256(wasm).digest(), wasm, 10**8)
    return manifest, shard, program


def req(program: ProgramCode, *, args: object = "red", rng: list | None = None, shard: int = 1, seq: int = 3):
    return QueryRequest(PROGRAM, program.hash, DATASET, seq, shard, encoding.encode(args), rng)


def good_msg() -> dict:
    return {"op": OP_QUERY, "program": PROGRAM, "program_hash": bytes(32), "dataset": DATASET, "seq": 1,
            "shard": 0, "args": encoding.encode({"text": "x"})}


# -- request checks --------------------------------------------------------------------


def test_request_round_trip() -> None:
    r = QueryRequest.from_msg(good_msg())
    assert r.to_msg() == good_msg()
    m = dict(good_msg(), range=[[1], None])
    assert QueryRequest.from_msg(m).range == [[1], None]


@pytest.mark.parametrize(
    "change",
    [
        {"op": "compute.other"},
        {"program": 5},
        {"program": ""},
        {"program_hash": b"short"},
        {"seq": -1},
        {"shard": "0"},
        {"args": "text"},
        {"args": b"\xff"},
        {"args": encoding.encode("x") + b"\x00"},
        {"args": b"\x40" * 70_000},
        {"range": [1, 2]},
        {"range": [[1]]},
        {"range": "x"},
        {"surprise": 1},
    ],
)
def test_request_refuses_bad_fields(change: dict) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        QueryRequest.from_msg({**good_msg(), **change})
    assert err.value.reason == "bad-request"


@pytest.mark.parametrize("msg", [None, [], "x", {"op": "compute.records"},
                                 {"op": "compute.records", "dataset": DATASET, "seq": 1, "shard": 0, "indices": []},
                                 {"op": "compute.records", "dataset": DATASET, "seq": 1, "shard": 0,
                                  "indices": [1, 1]}])
def test_records_request_refuses(msg: object) -> None:
    with pytest.raises(RemoteProtocolError):
        RecordsRequest.from_msg(msg)


# -- execute + verify_answer --------------------------------------------------------------


def test_honest_predicate_answer_verifies(world, sandbox) -> None:
    manifest, shard, program = world
    q = req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    ans = verify_answer(q, reply, manifest, peer_id=hashlib.sha256(PEER.public_key).digest())
    tags = [encoding.decode(r)["tag"] for r in ans.records]
    assert tags and set(tags) == {"red"}
    assert ans.indices == [i for i in range(20) if encoding.decode(shard.records[i])["tag"] == "red"]
    assert ans.claim.receipt["fuel"] > 0 and ans.claim.receipt["shard_root"] == shard.root
    check_output(ans, sandbox, program.wasm, program.fuel)


def test_honest_range_answer_verifies(world, sandbox) -> None:
    manifest, shard, program = world
    q = req(program, rng=[[25], [31]])
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    ans = verify_answer(q, reply, manifest)
    assert [encoding.decode(r)["id"] for r in ans.range_records] == list(range(25, 31))
    assert [encoding.decode(r)["id"] for r in ans.records] == [27, 30]
    check_output(ans, sandbox, program.wasm, program.fuel)


def test_empty_answers(world, sandbox) -> None:
    manifest, shard, program = world
    for rng in (None, [[100], [200]]):
        q = req(program, args="purple", rng=rng)
        ans = verify_answer(q, execute(PEER, sandbox, q, program, manifest, shard), manifest)
        assert ans.records == []


def test_receipt_signature_and_fields(world, sandbox) -> None:
    manifest, shard, program = world
    q = req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    receipt = Receipt.decode(reply["receipt"])
    receipt.verify()
    assert Receipt.decode(receipt.encode()) == receipt
    bad = Receipt(receipt.body, bytes([receipt.sig[0] ^ 1]) + receipt.sig[1:])
    with pytest.raises(InvalidSignature):
        bad.verify()
    with pytest.raises(InvalidSignature) as err:
        Receipt(dict(receipt.body, peer=bytes(32)), receipt.sig).verify()
    assert err.value.reason == "peer-id"
    with pytest.raises(InvalidSignature):
        verify_answer(q, reply, manifest, peer_id=bytes(32))


def _resign(body: dict) -> bytes:
    return Receipt(body, PEER.sign(domains.SIG_RECEIPT, encoding.encode(body))).encode()


@pytest.mark.parametrize("field, value", [("program", bytes(32)), ("dataset", "note://x/datasets/y"), ("seq", 2),
                                          ("shard", 0), ("shard_root", bytes(32)), ("count", 19),
                                          ("sort_key", ["tag"]), ("args", bytes(32)), ("range", [[1], None])])
def test_receipt_fields_must_match(world, sandbox, field: str, value: object) -> None:
    manifest, shard, program = world
    q = req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    body = dict(Receipt.decode(reply["receipt"]).body, **{field: value})
    with pytest.raises(RemoteProtocolError) as err:
        verify_answer(q, dict(reply, receipt=_resign(body)), manifest)
    assert err.value.reason == f"receipt-{field.replace('_', '-')}"


@pytest.mark.parametrize(
    "change",
    [
        {"receipt": b"junk"},
        {"receipt": 5},
        {"indices": [1, 1]},
        {"indices": ["x"]},
        {"extra": "x"},
        {"records": "x"},
        {"records": []},
        {"proof": None},
    ],
)
def test_malformed_replies(world, sandbox, change: dict) -> None:
    manifest, shard, program = world
    q = req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    with pytest.raises(RemoteProtocolError):
        verify_answer(q, {**reply, **change}, manifest)


def test_error_replies_become_typed_errors() -> None:
    with pytest.raises(RateLimited):
        parse_query_response({"error": {"code": "rate-limited", "message": "slow down"}}, ranged=False)
    with pytest.raises(NoteError):
        parse_query_response({"error": "weird"}, ranged=True)
    with pytest.raises(RemoteProtocolError):
        parse_query_response([1], ranged=False)
    with pytest.raises(NotFound):
        parse_records_response({"error": {"code": "not-found", "message": "x"}}, 1)
    with pytest.raises(RemoteProtocolError):
        parse_records_response({"records": [b"a"], "proof": b""}, 2)


def test_false_receipt_digest_is_rejected(world, sandbox) -> None:
    manifest, shard, program = world
    q = req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    with pytest.raises(RemoteProtocolError) as err:
        verify_answer(q, dict(reply, extra=b"x"), manifest)
    assert err.value.reason == "receipt-mismatch"


def test_range_proof_tampering_rejected(world, sandbox) -> None:
    manifest, shard, program = world
    q = req(program, rng=[[25], [31]])
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    for bad in (b"", b"\xa0", reply["range_proof"][:-1]):
        with pytest.raises(NoteError):
            verify_answer(q, dict(reply, range_proof=bad), manifest)


# -- the server's error replies ----------------------------------------------------------


class _Source:
    def __init__(self, manifest, shard, program):
        self.m, self.s, self.p = manifest, shard, program

    async def manifest(self, url, seq):
        if seq != self.m.seq:
            raise RemoteProtocolError("seq", reason="seq-mismatch")
        return self.m

    async def program(self, url, h):
        if h != self.p.hash:
            raise RemoteProtocolError("hash", reason="program-hash")
        return self.p

    async def shard(self, m, i):
        if i != 1:
            raise InvalidRecord("shard blob is corrupt", reason="shard-root")
        return self.s


async def test_server_error_replies(world, sandbox) -> None:
    manifest, shard, program = world
    server = ComputeServer(PEER, sandbox, _Source(manifest, shard, program))
    ok = await server.handle(None, req(program).to_msg())
    assert "receipt" in ok and server.served == 1
    cases = [
        ({"op": "nope"}, "unknown-op"),
        ("garbage", "unknown-op"),
        (dict(req(program).to_msg(), seq=9), "seq-mismatch"),
        (dict(req(program).to_msg(), shard=7), "no-shard"),
        (dict(req(program).to_msg(), shard=0), "shard-root"),
        (dict(req(program).to_msg(), program_hash=bytes(32)), "program-hash"),
        (dict(req(program).to_msg(), args=encoding.encode(5)), "trap"),
        (dict(req(program).to_msg(), range=[[30], [10]]), "bad-range"),
        (dict(req(program).to_msg(), range=[["x", 1], None]), "bad-range"),
        ({"op": "compute.records", "dataset": DATASET, "seq": 3, "shard": 1, "indices": [99]}, "index-range"),
    ]
    for msg, reason in cases:
        reply = await server.handle(None, msg)
        assert reply["error"]["reason"] == reason, (msg, reply)
    recs = await server.handle(None, {"op": "compute.records", "dataset": DATASET, "seq": 3, "shard": 1,
                                      "indices": [3, 0]})
    assert recs["records"] == [shard.records[3], shard.records[0]]


# -- fraud proofs ----------------------------------------------------------------------


def _lying_reply(world, sandbox, *, rng=None, drop=True):
    manifest, shard, program = world
    q = req(program, rng=rng)
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    from note_compute.compute.protocol import result_digest

    idx = reply["indices"][1:] if drop else reply["indices"]
    recs = [shard.records[i] for i in idx]
    body = dict(Receipt.decode(reply["receipt"]).body, result=result_digest(idx, recs, reply["extra"]))
    out = dict(reply, receipt=_resign(body), indices=idx)
    if rng is None:
        out["records"] = recs
        out["proof"] = shard.tree.batch_proof(idx).encode()
    return q, out


def test_range_omission_yields_a_verifiable_fraud_proof(world, sandbox) -> None:
    manifest, shard, program = world
    q, reply = _lying_reply(world, sandbox, rng=[[20], [40]])
    ans = verify_answer(q, reply, manifest)
    with pytest.raises(OutputMismatch) as err:
        check_output(ans, sandbox, program.wasm, program.fuel)
    fp = FraudProof.decode(err.value.fraud.encode())
    assert fp == err.value.fraud and fp.kind == KIND_RANGE
    with pytest.raises(InvalidProof) as need:  # a range conviction checks the whole shard is well formed
        verify_fraud_proof(fp, sandbox, program.wasm)
    assert need.value.reason == "need-shard"
    fp = FraudProof.decode(shard_proof(fp, bytes(32)).encode())
    assert shard_needed(fp) == bytes(32)
    assert verify_fraud_proof(fp, sandbox, program.wasm, shard=shard.records) == "hidden-match"
    assert fp.peer == hashlib.sha256(PEER.public_key).digest()
    # the wrong program, args or a tampered claim do not convict
    with pytest.raises(InvalidProof):
        verify_fraud_proof(fp, sandbox, wasmtime.wat2wasm(ALL_WAT), shard=shard.records)
    from dataclasses import replace

    for bad in (replace(fp, args=encoding.encode("blue")), replace(fp, indices=fp.indices[1:],
                                                                    digests=fp.digests[1:])):
        with pytest.raises(InvalidProof) as e:
            verify_fraud_proof(bad, sandbox, program.wasm, shard=shard.records)
        assert e.value.reason == "not-fraud"


def test_subset_omission_fraud_proof_needs_the_hidden_record(world, sandbox) -> None:
    manifest, shard, program = world
    q, reply = _lying_reply(world, sandbox)
    ans = verify_answer(q, reply, manifest)
    check_output(ans, sandbox, program.wasm, program.fuel)  # no sample: the omission is invisible
    hidden = [i for i in range(20) if encoding.decode(shard.records[i])["tag"] == "red"][0]
    sample = [Evidence([hidden], [shard.records[hidden]], shard.tree.batch_proof([hidden]).encode())]
    with pytest.raises(OutputMismatch) as err:
        check_output(ans, sandbox, program.wasm, program.fuel, sample=sample)
    # A sample shows a mismatch, but a partial sample convicts only of program-independent lies ...
    with pytest.raises(InvalidProof) as inel:
        verify_fraud_proof(err.value.fraud, sandbox, program.wasm)
    assert inel.value.reason == "ineligible"
    # ... the same accusation re-run on the whole shard convicts.
    fp = FraudProof.decode(shard_proof(err.value.fraud, bytes(32)).encode())
    assert fp.kind == "shard" and shard_needed(fp) == bytes(32)
    with pytest.raises(InvalidProof) as need:
        verify_fraud_proof(fp, sandbox, program.wasm)
    assert need.value.reason == "need-shard"
    assert verify_fraud_proof(fp, sandbox, program.wasm, shard=shard.records) == "hidden-match"
    with pytest.raises(InvalidProof):  # not the shard the receipt names
        verify_fraud_proof(fp, sandbox, program.wasm, shard=shard.records[:-1])


def test_honest_receipts_are_never_convicted(world, sandbox) -> None:
    manifest, shard, program = world
    for rng in (None, [[20], [40]]):
        q, reply = _lying_reply(world, sandbox, rng=rng, drop=False)
        ans = verify_answer(q, reply, manifest)
        check_output(ans, sandbox, program.wasm, program.fuel)
        everything = list(range(20))
        ev = [Evidence(everything, list(shard.records), shard.tree.batch_proof(everything).encode())]
        fp = ans.claim.fraud(KIND_SUBSET, evidence=ev) if rng is None else \
            ans.claim.fraud(KIND_RANGE, range_proof=ans.range_proof)
        for proof in (fp, shard_proof(fp, bytes(32))):
            with pytest.raises(InvalidProof) as err:
                verify_fraud_proof(proof, sandbox, program.wasm, shard=shard.records)
            assert err.value.reason == "not-fraud"


def test_forged_record_in_a_signed_claim(world, sandbox) -> None:
    manifest, shard, program = world
    q = req(program)
    reply = execute(PEER, sandbox, q, program, manifest, shard)
    from note_compute.compute.protocol import result_digest

    forged = encoding.encode({"id": 999, "tag": "red"})
    idx = reply["indices"]
    recs = [forged] + [shard.records[i] for i in idx[1:]]
    body = dict(Receipt.decode(reply["receipt"]).body, result=result_digest(idx, recs, reply["extra"]))
    bad = dict(reply, receipt=_resign(body), records=recs)
    with pytest.raises(UnprovenClaim) as err:
        verify_answer(q, bad, manifest)
    claim = err.value.claim
    ev = Evidence([idx[0]], [shard.records[idx[0]]], shard.tree.batch_proof([idx[0]]).encode())
    assert verify_fraud_proof(claim.fraud(KIND_SUBSET, evidence=[ev]), sandbox, program.wasm) == "forged-record"
    # evidence that does not verify against the shard root is refused
    bad_ev = Evidence([idx[0]], [forged], ev.proof)
    with pytest.raises(InvalidProof):
        verify_fraud_proof(claim.fraud(KIND_SUBSET, evidence=[bad_ev]), sandbox, program.wasm)


@pytest.mark.parametrize("data", [b"", b"\x00", encoding.encode({"type": "fraud"}), encoding.encode([1]),
                                  encoding.encode({"type": "fraud", "v": 1, "kind": "x", "receipt": b"",
                                                   "args": b"", "indices": [], "digests": [], "extra": b"",
                                                   "evidence": [], "range_proof": b""})])
def test_fraud_proof_decode_garbage(data: bytes) -> None:
    with pytest.raises(NoteError):
        FraudProof.decode(data)


def test_fraud_proof_with_garbage_receipt(sandbox, wasm) -> None:
    fp = FraudProof(KIND_SUBSET, b"junk", b"", [], [], b"")
    with pytest.raises(InvalidProof) as err:
        verify_fraud_proof(fp, sandbox, wasm)
    assert err.value.reason == "not-fraud"


async def test_server_batches(world, sandbox) -> None:
    manifest, shard, program = world
    server = ComputeServer(PEER, sandbox, _Source(manifest, shard, program))
    a, b = req(program).to_msg(), dict(req(program).to_msg(), shard=7)
    reply = await server.handle(None, {"op": "compute.batch", "queries": [a, b]})
    assert "receipt" in reply["replies"][0] and reply["replies"][1]["error"]["reason"] == "no-shard"
    for bad in ({"op": "compute.batch"}, {"op": "compute.batch", "queries": []},
                {"op": "compute.batch", "queries": [a] * 65},
                {"op": "compute.batch", "queries": [{"op": "compute.records"}]},
                {"op": "compute.batch", "queries": [a], "x": 1}):
        assert (await server.handle(None, bad))["error"]["reason"] == "bad-request"
    from note_compute.compute.protocol import parse_batch_reply

    with pytest.raises(RemoteProtocolError):
        parse_batch_reply({"replies": [1]}, 2)
    with pytest.raises(RateLimited):
        parse_batch_reply({"error": {"code": "rate-limited", "message": "x"}}, 1)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tags=st.lists(st.sampled_from(["ab", "ba", "abc", "c", ""]), min_size=1, max_size=30),
       needle=st.sampled_from(["ab", "c", "b", "zz"]), evidence_seed=st.randoms(), lie=st.booleans())
def test_fraud_proofs_convict_exactly_the_lies(sandbox, wasm, tags, needle, evidence_seed, lie) -> None:
    """Property: an honest subset claim is never convicted; a hidden match in the evidence always is."""
    from note_compute.compute.protocol import make_receipt, record_digests, result_digest
    from note_compute.merkle import MerkleTree

    recs = [encoding.encode({"i": i, "t": t}) for i, t in enumerate(tags)]
    tree = MerkleTree(recs)
    truth = [i for i, r in enumerate(recs) if needle.encode() in r]
    claimed = truth[1:] if lie and truth else truth
    q = QueryRequest(PROGRAM, hashlib.sha256(wasm).digest(), DATASET, 1, 0, encoding.encode(needle))
    claimed_recs = [recs[i] for i in claimed]
    receipt = make_receipt(PEER, q, shard_root=tree.root, count=len(recs), sort_key=["i"],
                           result=result_digest(claimed, claimed_recs, b""), fuel=1)
    extra_idx = sorted(set(evidence_seed.sample(range(len(recs)), k=evidence_seed.randrange(len(recs) + 1)))
                       | set(claimed))
    ev = [Evidence(extra_idx, [recs[i] for i in extra_idx], tree.batch_proof(extra_idx).encode())] if extra_idx else []
    fp = FraudProof(KIND_SUBSET, receipt.encode(), q.args, claimed, record_digests(claimed_recs), b"", ev)
    complete = len(extra_idx) == len(recs)
    lied = bool(lie and truth)
    if lied and complete:
        assert verify_fraud_proof(fp, sandbox, wasm) == "hidden-match"
    else:  # an honest claim never convicts; a partial sample is never enough for a program-dependent lie
        with pytest.raises(InvalidProof) as err:
            verify_fraud_proof(fp, sandbox, wasm)
        assert err.value.reason == ("not-fraud" if complete else "ineligible")
    # re-run on the whole shard: exactly the lies convict
    sp = shard_proof(fp, bytes(32))
    if lied:
        assert verify_fraud_proof(sp, sandbox, wasm, shard=recs) == "hidden-match"
    else:
        with pytest.raises(InvalidProof) as err2:
            verify_fraud_proof(sp, sandbox, wasm, shard=recs)
        assert err2.value.reason == "not-fraud"
